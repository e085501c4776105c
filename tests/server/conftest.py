"""A server over a test archive (alice: admin; bob: legal; carol: credit; C001
with a contract and minutes), driven through Starlette's TestClient."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from archive_manager import filing
from archive_manager.server.app import create_app
from archive_manager.server.web import ServerSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def filed(archive, tmp_path: Path):
    alice = archive.login("alice")
    out = {}
    for name, text, doc_type in (("contract.txt", "广告发布合同 付款条款 HT-2026-001", "contract"),
                                 ("minutes.txt", "会议纪要 户外大屏投放", "minutes")):
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        out[doc_type] = filing.file_document(alice, p, "C001", doc_type).doc_id
    return out


@pytest.fixture
def app(archive, filed, clock):
    return create_app(archive.home, ServerSettings(), clock=clock, failed_delay=0.0)


@pytest.fixture
def client(app):
    with TestClient(app, base_url="https://testserver") as c:
        yield c


PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dan": "dan-pw"}


def api_sign_in(client: TestClient, user: str) -> dict:
    r = client.post("/api/v1/session", json={"user": user, "passphrase": PASSWORDS[user]})
    assert r.status_code == 201, r.text
    return {"authorization": f"Bearer {r.json()['token']}"}


def page_sign_in(client: TestClient, user: str, passphrase: str | None = None):
    form = client.get("/signin")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post("/signin", data={"user": user, "passphrase": passphrase or PASSWORDS[user], "csrf": csrf},
                       follow_redirects=False)
