// needlens review workspace: keyboard-first labeling without page reloads.
// Items arrive as HTML fragments the server rendered and escaped; this script only swaps them in,
// toggles choices, and posts the decision as a form (with the page's CSRF token).
(() => {
  "use strict";
  const workspace = document.getElementById("workspace");
  const help = document.getElementById("help");
  const status = document.getElementById("status");
  if (!workspace) return;

  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const seen = []; // keys shown, oldest first: ArrowLeft walks back
  const skipped = new Set(); // keys passed over with ArrowRight, not offered again this visit
  let busy = false;

  const current = () => workspace.querySelector("#item");
  const say = (message, bad = false) => {
    status.textContent = message;
    status.classList.toggle("bad", bad);
  };

  async function problem(response) {
    try {
      const body = await response.json();
      return body.error ? body.error.message : response.statusText;
    } catch {
      return `${response.status} ${response.statusText}`;
    }
  }

  function signIn() {
    window.location.assign("/ui/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
  }

  async function load(url, remember = true) {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.status === 401) return signIn();
      if (!response.ok) return say(await problem(response), true);
      workspace.innerHTML = await response.text(); // server-rendered and escaped
      const item = current();
      if (remember && item && item.dataset.key) seen.push(item.dataset.key);
      if (item && item.dataset.key) {
        history.replaceState(null, "", `/ui/item/${item.dataset.key}${window.location.search}`);
      }
    } catch (error) {
      say(`Network error: ${error.message}`, true);
    } finally {
      busy = false;
    }
  }

  function next() {
    const skip = [...skipped].join(",");
    const url = new URL(workspace.dataset.nextUrl, window.location.origin);
    if (skip) url.searchParams.set("skip", skip);
    return load(url.pathname + url.search);
  }

  function skip() {
    const item = current();
    if (item && item.dataset.key) skipped.add(item.dataset.key);
    say(item && item.dataset.key ? `${item.dataset.key} skipped` : "");
    return next();
  }

  function previous() {
    const item = current();
    if (item && item.dataset.key) seen.pop(); // the one shown now is the last seen
    if (!seen.length) return say("No earlier item in this visit.");
    return load(`/ui/queue/item/${seen[seen.length - 1]}`, false);
  }

  function toggleNeed(button) {
    button.setAttribute("aria-pressed", button.getAttribute("aria-pressed") === "true" ? "false" : "true");
  }

  function pickCause(button) {
    for (const other of current().querySelectorAll("button.cause")) other.setAttribute("aria-checked", "false");
    button.setAttribute("aria-checked", "true");
  }

  async function save() {
    const item = current();
    if (!item || !item.dataset.key || busy) return;
    if (item.dataset.editable !== "true") return say("Someone else is labeling this item.", true);
    const needs = [...item.querySelectorAll('button.need[aria-pressed="true"]')].map((b) => b.dataset.name);
    const cause = item.querySelector('button.cause[aria-checked="true"]');
    if (!needs.length) return say("Pick at least one need (1 2 3).", true);
    if (!cause) return say("Pick a cause (q w e).", true);
    const body = new URLSearchParams({ csrf_token: csrf, needs: needs.join(","), cause: cause.dataset.name });
    busy = true;
    let response;
    try {
      response = await fetch(item.dataset.saveUrl, { method: "POST", body, credentials: "same-origin" });
    } catch (error) {
      return say(`Not saved, network error: ${error.message}`, true);
    } finally {
      busy = false;
    }
    if (response.status === 401) return signIn();
    if (!response.ok) return say(`Not saved: ${await problem(response)}`, true);
    const result = await response.json();
    say(result.message);
    return next();
  }

  function toggleHelp() {
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  }

  workspace.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !workspace.contains(button)) return;
    if (button.classList.contains("need")) toggleNeed(button);
    else if (button.classList.contains("cause")) pickCause(button);
    else if (button.dataset.action === "save") save();
    else if (button.dataset.action === "next") skip();
    else if (button.dataset.action === "previous") previous();
    else if (button.dataset.action === "help") toggleHelp();
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.target.closest("input, select, textarea, [contenteditable]")) return;
    if (event.key === "?") {
      event.preventDefault();
      return toggleHelp();
    }
    if (help && help.open) return; // Esc closes the dialog by itself
    const item = current();
    const key = event.key.toLowerCase();
    const choice = item && item.querySelector(`button.choice[data-key="${CSS.escape(key)}"]`);
    if (choice) {
      event.preventDefault();
      return choice.classList.contains("need") ? toggleNeed(choice) : pickCause(choice);
    }
    if (event.key === "Enter") {
      event.preventDefault();
      return save();
    }
    if (event.key === "ArrowRight") {
      event.preventDefault();
      return skip();
    }
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      return previous();
    }
  });

  load(workspace.dataset.itemUrl || workspace.dataset.nextUrl);
})();
