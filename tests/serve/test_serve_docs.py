"""The API docs work on a machine without internet: every asset comes from the service itself."""

import re

import pytest
from fastapi.testclient import TestClient

from classifier.settings import Settings
from serve.app import create_app

URL = re.compile(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # the docs need no model: a service whose model is still loading (or failed) serves them too
    settings = Settings(model_dir=tmp_path_factory.mktemp("none"), label_store=tmp_path_factory.mktemp("s") / "l.db")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_assets_the_service_serves(client, page):
    html = client.get(page)
    assert html.status_code == 200
    urls = URL.findall(html.text)
    assert any(u.endswith(".js") for u in urls) and "/openapi.json" in urls
    assert not [u for u in urls if re.match(r"(https?:)?//", u)], urls
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_a_key_guarding_v1_is_in_the_schema_and_the_health_routes_stay_open(client, tmp_path):
    assert "securitySchemes" not in client.get("/openapi.json").json()["components"]  # no key, no scheme
    settings = Settings(model_dir=tmp_path / "none", label_store=tmp_path / "l.db", api_key="s3cret")
    with TestClient(create_app(settings)) as guarded:
        schema = guarded.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert (operation.get("security") == [{"bearer": []}]) == path.startswith("/v1/"), path
