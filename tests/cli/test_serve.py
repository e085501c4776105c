"""``archive serve`` as users start it: bad options are usage errors; a real
server process answers, signs users in, and when it stops every sign-in is
recorded as ended."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.cli.conftest import check_clean


def test_tls_needs_both_files(cli):
    r = check_clean(cli.run("serve", "--tls-cert", "cert.pem", user="alice"))
    assert r.exit_code == 2 and "give --tls-cert and --tls-key together" in r.stderr


def test_no_archive_is_an_error(tmp_path, cli):
    r = check_clean(cli.run("serve", env={"ARCHIVE_HOME": str(tmp_path / "none")}))
    assert r.exit_code != 0 and "archive: error:" in r.stderr and "no archive" in r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None = None, method: str | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json",
                                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.slow
def test_a_real_server_signs_in_serves_and_ends_every_sign_in_when_stopped(cli):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env.update({k: v for k, v in cli.env().items() if v is not None})
    proc = subprocess.Popen([sys.executable, "-c", "from archive_manager.cli import main; main()", "serve",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                status, page = request(base + "/signin")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer: " + proc.stderr.read1().decode())
        assert status == 200 and "登录".encode() in page
        status, body = request(base + "/api/v1/session", {"user": "bob", "passphrase": "bob-pw"})
        assert status == 201
        token = json.loads(body)["token"]
        status, body = request(base + "/api/v1/clients", headers={"authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(body)[0]["client"] == "C001"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()  # uvicorn shuts down, then re-raises the signal
    assert token not in (out + err).decode()
    # the events' clear fields, straight from the trail (no auditor in this archive to unseal the rest)
    events = [json.loads(line) for line in (cli.home / "audit" / "events.log").read_text().splitlines()]
    ended = [e for e in events if e["action"] == "logout"]
    assert [e["user"] for e in ended] == ["bob"] and ended[0]["objects"].get("address") is None
    assert any(e["action"] == "client-list" and e["objects"].get("address") == "127.0.0.1" for e in events)
