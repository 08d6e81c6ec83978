"""The review UI in a real browser: Debian's Chromium driven by Playwright, against the app served
by uvicorn on a free local port (toy model, fresh label store per test).

Skipped, saying why, where Playwright or /usr/bin/chromium is missing (`.ci/run` installs
Chromium with apt-get). Nothing here downloads a browser. Screenshots of every page are saved
under tests/artifacts/ui/ (git-ignored; NEEDLENS_UI_ARTIFACTS moves them).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from label_loop.review_queue import QueuedText
from tests.serve.ui.conftest import PASSWORDS, make_registry, prediction_entry, queue_of, ui_settings

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install -e '.[dev]')"
)
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("NEEDLENS_UI_ARTIFACTS", Path(__file__).parents[2] / "artifacts" / "ui"))
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">退款'
STORED = {
    "needs": ["surface"],
    "need_probabilities": {"surface": 0.93, "emotional": 0.41, "growth": 0.03},
    "cause": "system_error",
    "cause_probabilities": {"system_error": 0.52, "perception_mismatch": 0.44, "none": 0.04},
    "needs_review": ["emotional", "cause"],
}
TEXTS = [
    "理赔金额比预估少了两千，也没人解释是怎么算的",
    "空调不制冷，师傅来了三次都没修好",
    "快递送错了东西，客服一直不回复",
]


class Server:
    """The app under uvicorn in a thread, on a port the OS picked."""

    def __init__(self, app) -> None:
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not (self.server.started and self.app.state.service.served is not None):
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def server(toy_model, predictor, tmp_path) -> Iterator[Server]:
    from serve.app import create_app

    make_registry(toy_model[0], tmp_path / "registry")
    with Server(create_app(ui_settings(toy_model[0], tmp_path), predictor)) as running:
        yield running


def store_predictions(server: Server, texts: list[str]) -> None:
    evidence = {"surface": [{"start": 0, "end": 4, "score": 0.21}]}
    server.app.state.service.predictions.add([prediction_entry(t, {**STORED, "evidence": evidence}) for t in texts])


def open_as(browser, server: Server, name: str, path: str = "/ui"):
    """A fresh browser context (its own cookies) signed in as ``name`` through the login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a script opened a dialog: {dialog.message}"))
    page.goto(server.url + path)
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"**{path}*")
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def current_key(page) -> str:
    return page.get_attribute("#item", "data-key")


def wait_for_item(page, key: str) -> None:
    page.wait_for_selector(f'#item[data-key="{key}"]')


def test_an_annotator_labels_three_items_by_keyboard_and_corrects_one(browser, server):
    store_predictions(server, TEXTS)
    page = open_as(browser, server, "ana")
    wait_for_item(page, "p3")  # stored predictions, newest first
    assert page.get_attribute('button.need[data-name="surface"]', "aria-pressed") == "true"
    page.wait_for_selector("mark.ev-surface")
    shot(page, "queue")

    page.keyboard.press("?")
    page.wait_for_selector("dialog#help[open]")
    shot(page, "definitions")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog#help:not([open])", state="attached")

    page.keyboard.press("Enter")  # p3: the model's labels, accepted
    wait_for_item(page, "p2")
    page.keyboard.press("2")  # p2: add emotional
    page.keyboard.press("w")  # cause: perception_mismatch
    assert page.get_attribute('button.need[data-name="emotional"]', "aria-pressed") == "true"
    assert page.get_attribute('button.cause[data-name="perception_mismatch"]', "aria-checked") == "true"
    page.keyboard.press("Enter")
    wait_for_item(page, "p1")
    page.click('button.need[data-name="growth"]')  # the mouse works too
    page.click('button.need[data-name="growth"]')
    page.keyboard.press("Enter")
    page.wait_for_selector('#item[data-empty="true"]')
    assert "saved" in page.inner_text("#status")

    events = server.app.state.service.label_store().all_events()
    labels = {e.label.text: ([str(n) for n in e.label.labels.needs], str(e.label.labels.cause)) for e in events}
    assert labels == {
        TEXTS[2]: (["surface"], "system_error"),
        TEXTS[1]: (["surface", "emotional"], "perception_mismatch"),
        TEXTS[0]: (["surface"], "system_error"),
    }
    assert {(e.label.source, e.label.annotator) for e in events} == {("review", "ana")}
    assert [d.action for key in ("p3", "p2", "p1") for d in queue_of(server.app).decisions(key)] == [
        "accept",
        "correct",
        "accept",
    ]

    page.keyboard.press("ArrowLeft")  # back to p1, still there to look at again
    wait_for_item(page, "p1")
    page.context.close()


def test_arrows_skip_forward_and_step_back(browser, server):
    queue_of(server.app).enqueue([QueuedText(text, "suggest:s.csv") for text in TEXTS])
    page = open_as(browser, server, "ana")
    wait_for_item(page, "t1")
    page.keyboard.press("ArrowRight")
    wait_for_item(page, "t2")
    page.keyboard.press("ArrowLeft")
    wait_for_item(page, "t1")
    assert server.app.state.service.label_store().count_events() == 0
    page.context.close()


def test_a_text_carrying_a_script_renders_inert(browser, server):
    import httpx

    queue_of(server.app).enqueue([QueuedText(XSS, "import:<b>x</b>.csv")])
    sent = {"items": [{"id": "<i>x</i>", "text": "想了解" + XSS}], "explain": True, "store": True, "store_text": True}
    assert httpx.post(f"{server.url}/v1/classify", json=sent).json()["storage"]["stored"]  # through the API
    page = open_as(browser, server, "ana", "/ui?source=queued")
    wait_for_item(page, "t1")
    assert '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">' in page.inner_text(".text")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".text script, .text img").count() == 0
    page.goto(server.url + "/ui?q=" + "__pwned")
    page.wait_for_selector("table.hits")
    shot(page, "search")
    assert page.locator("table.hits a").all_inner_texts() == ["p1", "t1"]
    assert "<script>" in page.inner_text("table.hits")
    page.click("table.hits a >> text=p1")
    wait_for_item(page, "p1")
    assert "想了解<script>window.__pwned=1</script>" in page.inner_text(".text")
    assert page.evaluate("window.__pwned") is None
    page.context.close()


def test_two_annotators_in_two_browsers_never_get_the_same_item(browser, server):
    queue_of(server.app).enqueue([QueuedText(text, "import:a.csv") for text in TEXTS[:2]])
    ana = open_as(browser, server, "ana")
    ana.wait_for_selector("#item[data-key]")
    bo = open_as(browser, server, "bo")
    bo.wait_for_selector("#item[data-key]")
    assert {current_key(ana), current_key(bo)} == {"t1", "t2"}
    ana.context.close()
    bo.context.close()


def test_a_post_without_the_csrf_token_is_refused_and_an_annotator_cannot_promote(browser, server):
    queue_of(server.app).enqueue([QueuedText(TEXTS[0], "import:a.csv")])
    page = open_as(browser, server, "ana", "/ui/model")
    shot(page, "model-annotator")
    assert page.locator("form[action='/ui/model/promote']").count() == 0
    post = """async ([url, withToken]) => {
        const body = new URLSearchParams({needs: "surface", cause: "none", version: "v2", reason: "x"});
        if (withToken) body.set("csrf_token", document.querySelector('meta[name="csrf-token"]').content);
        return (await fetch(url, {method: "POST", body})).status;
    }"""
    assert page.evaluate(post, ["/ui/queue/item/t1", False]) == 403
    assert page.evaluate(post, ["/ui/model/promote", True]) == 403
    assert page.evaluate(post, ["/ui/queue/item/t1", True]) == 200  # the same post with the token is fine
    assert server.app.state.service.label_store().count_events() == 1
    page.context.close()


def test_screenshots_of_the_login_agreement_monitor_and_admin_model_pages(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    login = context.new_page()
    login.goto(server.url + "/ui")
    login.wait_for_selector("form[action='/ui/login']")
    shot(login, "login")
    context.close()
    page = open_as(browser, server, "root", "/ui/model")
    assert page.locator("form[action='/ui/model/promote']").count() == 1
    shot(page, "model-admin")
    page.goto(server.url + "/ui/agreement")
    shot(page, "agreement")
    store_predictions(server, TEXTS)
    page.goto(server.url + "/ui/monitor")
    page.wait_for_selector("h1")
    shot(page, "monitor")
    page.context.close()
