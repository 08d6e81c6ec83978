"""The review UI's defences without a browser: sign-in, sessions, CSRF, roles, escaping, headers."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from limits import RateLimitItemPerSecond

from label_loop.review_queue import QueuedText
from lifecycle.registry import ModelRegistry
from serve.app import create_app
from serve.ui.passwords import hash_password, verify_password
from serve.ui.sign_in_limit import SignInLimit
from tests.serve.test_serve import wait_ready
from tests.serve.ui.conftest import PASSWORDS, csrf_of, queue_of, sign_in, ui_settings

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">退款'


def test_a_password_hash_verifies_its_password_only():
    stored = hash_password("密码 with spaces")
    assert verify_password("密码 with spaces", stored)
    assert not verify_password("密码", stored)
    for broken in ("", "scrypt$", "scrypt$16384$8$1$!!$!!", "scrypt$999999999999$8$1$AAAA$AAAA", "md5$abc"):
        assert not verify_password("x", broken)


def test_pages_send_a_visitor_who_is_not_signed_in_to_the_login_page(client):
    for path in ("/ui", "/ui/agreement", "/ui/model", "/ui/monitor", "/ui/item/t1", "/ui?q=abc"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/ui/login?next=%2Fui")
    assert client.get("/ui/queue/next").status_code == 401  # the page's script is told, not redirected


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(client):
    token = csrf_of(client)
    wrong = client.post("/ui/login", data={"csrf_token": token, "name": "ana", "password": "nope"})
    unknown = client.post("/ui/login", data={"csrf_token": csrf_of(client), "name": "zoe", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
    assert client.get("/ui", follow_redirects=False).status_code == 303


def test_a_blank_name_is_no_account_and_a_padded_one_is_its_account(client):
    settings = client.app.state.service.settings
    settings.ui_users = {**settings.ui_users, "": settings.ui_users["root"]}  # a hand-written blank admin

    def attempt(name: str, password: str) -> Response:
        form = {"csrf_token": csrf_of(client), "name": name, "password": password, "next": "/ui"}
        return client.post("/ui/login", data=form, follow_redirects=False)

    assert attempt("", PASSWORDS["root"]).status_code == 401
    assert attempt("  ", PASSWORDS["root"]).status_code == 401
    assert attempt(" ana ", PASSWORDS["ana"]).status_code == 303  # what hash-password made of " ana "
    assert "<span>ana · annotator</span>" in client.get("/ui").text


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "blank"), ("  ", "blank"), ("\u200b", "invisible"), ("a\\u0000b", "control"), (" ana", "spaces")],
)
def test_a_blank_or_padded_account_name_is_refused_when_the_settings_load(name, why, monkeypatch):
    from classifier.settings import Settings

    entry = f'{{"{name}": {{"role": "admin", "password_hash": "{hash_password("pw")}"}}}}'
    monkeypatch.setenv("NEEDLENS_UI_USERS", entry)
    with pytest.raises(ValueError, match=f"account name .*{why}"):
        Settings()


def test_wrong_passwords_past_the_limit_are_refused_per_name_and_per_address(toy_model, predictor, tmp_path):
    app = create_app(ui_settings(toy_model[0], tmp_path, ui_login_failures=3, ui_login_window_s=600), predictor)

    def attempt(client: TestClient, name: str, password: str) -> Response:
        form = {"csrf_token": csrf_of(client), "name": name, "password": password, "next": "/ui"}
        return client.post("/ui/login", data=form, follow_redirects=False)

    with TestClient(app, base_url="http://testserver", client=("10.0.0.1", 1)) as guesser:
        wait_ready(guesser)
        assert [attempt(guesser, "ana", f"guess{i}").status_code for i in range(3)] == [401] * 3
        blocked = attempt(guesser, "ana", PASSWORDS["ana"])  # the right password, past the limit
        assert blocked.status_code == 429 and 500 < int(blocked.headers["retry-after"]) <= 600
        assert "Too many wrong passwords" in blocked.text
        assert attempt(guesser, "bo", PASSWORDS["bo"]).status_code == 429  # the address is counted too
        elsewhere = TestClient(app, base_url="http://testserver", client=("10.0.0.2", 1))
        assert attempt(elsewhere, "ana", PASSWORDS["ana"]).status_code == 429  # so is the name
        assert [attempt(elsewhere, "bo", "wrong").status_code for _ in range(2)] == [401] * 2
        assert attempt(elsewhere, "bo", PASSWORDS["bo"]).status_code == 303
        third = TestClient(app, base_url="http://testserver", client=("10.0.0.3", 1))
        assert [attempt(third, "bo", "wrong").status_code for _ in range(3)] == [401] * 3  # bo's 2 were cleared


def test_a_failure_count_ends_with_its_window():
    limit = SignInLimit(RateLimitItemPerSecond(2, 1))
    limit.failed("ana", "10.0.0.1")
    assert limit.wait_s("ana", "10.0.0.1") == 0
    limit.failed("ana", "10.0.0.1")
    assert limit.wait_s("ana", "10.0.0.1") == 1 and limit.wait_s("bo", "10.0.0.1") == 1
    assert limit.wait_s("bo", "10.0.0.2") == 0
    time.sleep(1.05)
    assert limit.wait_s("ana", "10.0.0.1") == 0


def test_signing_in_leads_back_to_the_page_asked_for_and_never_to_another_site(client):
    for asked, landed in (("/ui/agreement", "/ui/agreement"), ("https://evil.example/ui", "/ui"), ("//evil", "/ui")):
        client.cookies.clear()
        form = {"csrf_token": csrf_of(client), "name": "ana", "password": PASSWORDS["ana"], "next": asked}
        response = client.post("/ui/login", data=form, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == landed


def test_a_post_without_the_right_csrf_token_is_refused(client):
    refused = client.post("/ui/login", data={"name": "ana", "password": PASSWORDS["ana"]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    before = csrf_of(client)
    token = sign_in(client, "ana")
    assert token != before  # a token seen before signing in is worth nothing after
    queue_of(client.app).enqueue([QueuedText("屏幕坏了", "import:a")])
    key = "t1"
    for form in ({}, {"csrf_token": ""}, {"csrf_token": before}, {"csrf_token": token + "x"}):
        response = client.post(f"/ui/queue/item/{key}", data={**form, "needs": "surface", "cause": "none"})
        assert response.status_code == 403, form
    assert client.app.state.service.label_store().count_events() == 0
    assert client.post("/ui/logout", data={}).status_code == 403  # signing out is a form post too


def test_the_session_cookie_is_httponly_strict_and_tampering_signs_you_out(client):
    sign_in(client, "ana")
    cookie = next(c for c in client.cookies.jar if c.name == "needlens_ui")
    assert cookie.path == "/ui" and cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite", "").lower() == "strict"
    assert client.get("/ui", follow_redirects=False).status_code == 200
    client.cookies.clear()
    for forged in ((cookie.value[:-2] + "AA").encode(), b"garbage", "é".encode() * 50, b"\xff\xfe", b""):
        response = client.get("/ui", headers=[(b"cookie", b"needlens_ui=" + forged)], follow_redirects=False)
        assert response.status_code == 303, forged


def test_removing_an_account_or_changing_its_password_ends_its_sessions(client):
    sign_in(client, "ana")
    settings = client.app.state.service.settings
    users = dict(settings.ui_users)
    settings.ui_users = {**users, "ana": users["ana"].model_copy(update={"password_hash": hash_password("new")})}
    assert client.get("/ui", follow_redirects=False).status_code == 303
    settings.ui_users = users
    sign_in(client, "ana")
    settings.ui_users = {k: v for k, v in users.items() if k != "ana"}
    assert client.get("/ui", follow_redirects=False).status_code == 303


def test_an_annotator_cannot_promote_or_roll_back_and_an_admin_can(client, tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    token = sign_in(client, "ana")
    page = client.get("/ui/model")
    assert "Promote" not in page.text and "for admins" in page.text
    for action in ("promote", "rollback"):
        response = client.post(f"/ui/model/{action}", data={"csrf_token": token, "version": "v2", "reason": "try"})
        assert response.status_code == 403 and response.json()["error"]["code"] == "admin_only"
    assert registry.active() == "v1"

    client.cookies.clear()
    token = sign_in(client, "root")
    assert "Promote" in client.get("/ui/model").text
    data = {"csrf_token": token, "version": "v2", "reason": "better on gold"}
    promoted = client.post("/ui/model/promote", data=data, follow_redirects=False)
    assert promoted.status_code == 303 and registry.active() == "v2"
    assert registry.history()[-1]["reason"] == "better on gold (by root in the review UI)"
    outside = client.post("/ui/model/promote", data={**data, "version": "../versions/v1"})
    assert outside.status_code == 422 and registry.active() == "v2"
    rolled = client.post(
        "/ui/model/rollback", data={"csrf_token": token, "reason": "regressed"}, follow_redirects=False
    )
    assert rolled.status_code == 303 and registry.active() == "v1"
    page = client.get(rolled.headers["location"])
    assert "Rolled back." in page.text and "regressed (by root in the review UI)" in page.text


def test_every_text_is_escaped_on_every_page(client):
    service = client.app.state.service
    queue = queue_of(client.app)
    queue.enqueue([QueuedText(XSS, "import:<b>evil</b>.csv", external_id="<i>id</i>", metadata={"domain": "<u>d</u>"})])
    token = sign_in(client, "ana")
    fragment = client.get("/ui/queue/next")
    assert fragment.status_code == 200
    saved = client.post("/ui/queue/item/t1", data={"csrf_token": token, "needs": "surface", "cause": "system_error"})
    assert saved.status_code == 200
    client.cookies.clear()
    token = sign_in(client, "bo")
    client.post("/ui/queue/item/t1", data={"csrf_token": token, "needs": "emotional", "cause": "none"})
    pages = [fragment, client.get("/ui"), client.get("/ui?q=window"), client.get("/ui/agreement")]
    pages.append(client.get("/ui/queue/item/t1"))
    for response in pages:
        assert response.status_code == 200
        assert "<script>window" not in response.text and "<img src=x" not in response.text
        assert "<b>evil" not in response.text and "<i>id" not in response.text and "<u>d" not in response.text
        assert 'onerror="' not in response.text
    assert "__pwned=1&lt;/script&gt;" in fragment.text  # shown as text (cut by evidence marks here and there)
    assert "&lt;script&gt;" in pages[2].text and "&lt;script&gt;" in pages[3].text
    assert service.label_store().count_events() == 2


def test_pages_carry_a_policy_that_runs_only_the_services_own_script(client):
    sign_in(client, "ana")
    for path in ("/ui", "/ui/login", "/ui/queue/next", "/ui/static/ui.js"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
    assert client.get("/ui").headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"needs": "surface"}', "application/json", 415),
        (b"needs=%FF&cause=none", "application/x-www-form-urlencoded", 400),
        ("&".join(f"f{i}=1" for i in range(100)).encode(), "application/x-www-form-urlencoded", 400),
    ],
)
def test_a_form_post_that_is_not_utf8_urlencoded_is_refused_naming_why(client, body, content_type, status):
    sign_in(client, "ana")
    response = client.post("/ui/queue/item/t1", content=body, headers={"content-type": content_type})
    assert response.status_code == status and response.json()["error"]["message"]


def test_assets_are_served_by_name_only(client):
    js = client.get("/ui/static/ui.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    for name in ("..%2Fsession.py", "session.py", "%2e%2e%2f%2e%2e%2fapp.py", "ui.js%00"):
        assert client.get(f"/ui/static/{name}").status_code == 404, name


def test_the_html_routes_stay_out_of_the_api_schema(client):
    assert not [path for path in client.get("/openapi.json").json()["paths"] if path.startswith("/ui")]


def test_worker_processes_get_the_accounts_but_never_an_unmasked_secret(monkeypatch, tmp_path):
    import json

    from classifier.settings import Settings
    from needlens.cli.common import load_settings
    from needlens.cli.serve import settings_environment

    users = {"ana": {"role": "annotator", "password_hash": hash_password("x")}}
    monkeypatch.setenv("NEEDLENS_UI_USERS", json.dumps(users))
    monkeypatch.setenv("NEEDLENS_UI_SECRET", "cookie-key")
    given = load_settings(model_dir=tmp_path)
    environment = settings_environment(given)
    assert "NEEDLENS_UI_SECRET" not in environment  # inherited as it is, not copied as '**********'
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    worker = Settings()
    assert worker.ui_users == given.ui_users and worker.ui_users["ana"].role == "annotator"
    assert worker.ui_secret is not None and worker.ui_secret.get_secret_value() == "cookie-key"


def test_an_unknown_item_in_the_address_is_a_404_page_that_shows_it_inert(client):
    sign_in(client, "ana")
    response = client.get("/ui/item/%3Cscript%3Ealert(1)")
    assert response.status_code == 404
    assert "<script>alert" not in response.text and "No item &lt;script&gt;alert(1)" in response.text
    assert client.get("/ui/queue/item/%E2%80%AE%00").status_code == 404
