"""The review UI's fixtures: accounts, an app over the toy model with a fresh label store, signing in."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from classifier.settings import Settings
from label_loop.predictions import NewPrediction
from label_loop.review_queue import ReviewQueue
from lifecycle.registry import ModelRegistry
from serve.app import create_app
from serve.settings import UiUser
from serve.ui.passwords import hash_password
from tests.serve.test_serve import wait_ready

PASSWORDS = {"ana": "ana-密码", "bo": "bo-password", "root": "root-password"}
ROLES = {"ana": "annotator", "bo": "annotator", "root": "admin"}
USERS = {name: UiUser(role=ROLES[name], password_hash=hash_password(pw)) for name, pw in PASSWORDS.items()}
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def ui_settings(model_dir: Path, tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        model_dir=model_dir,
        label_store=tmp_path / "labels.db",
        registry_dir=tmp_path / "registry",
        reload_poll_s=0,
        ui_users=USERS,
        ui_secret="test-secret",
        **overrides,
    )


def make_registry(model_dir: Path, root: Path, versions: tuple[str, ...] = ("v1", "v2")) -> ModelRegistry:
    """A registry whose versions are copies of ``model_dir``, the first one active."""
    registry = ModelRegistry(root)
    for version in versions:
        shutil.copytree(model_dir, root / "versions" / version)
    registry.promote(versions[0], "first")
    return registry


def queue_of(app: FastAPI) -> ReviewQueue:
    """The review queue over the app's label store (the one its UI reads)."""
    service = app.state.service
    return ReviewQueue(service.label_store(), service.predictions)


def prediction_entry(text: str, prediction: dict[str, Any]) -> NewPrediction:
    """A stored prediction flagged for review, its text kept, as `"store": true` would store it."""
    return NewPrediction(
        text=text,
        source="api",
        model_version="toy-1",
        needs=["surface"],
        cause="system_error",
        probabilities={},
        needs_review=True,
        prediction=prediction,
        metadata={"domain": "phones"},
        keep_text=True,
    )


def csrf_of(client: TestClient, path: str = "/ui/login") -> str:
    return CSRF.search(client.get(path).text).group(1)


def sign_in(client: TestClient, name: str) -> str:
    """Sign ``client`` in as ``name``; returns the session's CSRF token."""
    response = client.post(
        "/ui/login",
        data={"csrf_token": csrf_of(client), "name": name, "password": PASSWORDS[name], "next": "/ui"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client, "/ui/agreement")


@pytest.fixture
def app(toy_model, predictor, tmp_path):
    make_registry(toy_model[0], tmp_path / "registry")
    return create_app(ui_settings(toy_model[0], tmp_path), predictor)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="http://testserver") as c:
        wait_ready(c)
        yield c


@pytest.fixture
def other_client(app, client):
    """A second browser on the app ``client`` runs (no lifespan of its own: one model, one store)."""
    return TestClient(app, base_url="http://testserver")
