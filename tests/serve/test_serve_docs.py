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
