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


def test_check_reports_what_lets_users_around_the_server(cli):
    real_kdf = {**cli.env(), "ARCHIVE_KDF_PROFILE": None}
    r = check_clean(cli.run("serve", "--check", env=real_kdf))
    assert r.exit_code == 0, r.output
    assert "ok       home" in r.stdout and "ok       bind         127.0.0.1" in r.stdout
    assert "warning  proxy" in r.stdout
    (cli.home / "vault").chmod(0o755)
    r = check_clean(cli.run("serve", "--check", "--host", "0.0.0.0", env=real_kdf))
    assert r.exit_code == 1
    assert "problem  vault" in r.stdout and "755" in r.stdout
    assert "problem  bind         0.0.0.0 without TLS" in r.stdout
    r = check_clean(cli.run("serve", "--check"))  # the test KDF profile of this archive
    assert r.exit_code == 1 and "problem  kdf" in r.stdout
    r = check_clean(cli.run("serve", "--check", env={**real_kdf, "ARCHIVE_HOME": str(cli.workdir)}))
    assert r.exit_code == 1 and "problem  archive" in r.stdout and "no archive" in r.stdout


@pytest.mark.slow
def test_serve_watch_files_the_inbox_in_the_same_process(cli):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env.update({k: v for k, v in cli.env("alice").items() if v is not None})
    inbox = cli.home / "inbox" / "C001" / "contract"
    inbox.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "from archive_manager.cli import main; main()", "serve",
                             "--port", str(port), "--watch", "--polling"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                request(f"http://127.0.0.1:{port}/signin")
                break
            except OSError:
                time.sleep(0.1)
        dropped = inbox / "监测合同.txt"
        dropped.write_text("户外大屏监测合同 第一条", encoding="utf-8")
        os.utime(dropped, (time.time() - 60, time.time() - 60))
        for _ in range(200):
            if not dropped.exists():
                break
            time.sleep(0.1)
        assert not dropped.exists(), "the watcher did not file the dropped file"
        status, body = request(f"http://127.0.0.1:{port}/api/v1/session", {"user": "bob", "passphrase": "bob-pw"})
        token = json.loads(body)["token"]
        for _ in range(50):  # the index commit follows the filing when the watcher is idle
            status, body = request(f"http://127.0.0.1:{port}/api/v1/search?q=%E7%9B%91%E6%B5%8B%E5%90%88%E5%90%8C",
                                   headers={"authorization": f"Bearer {token}"})
            if json.loads(body)["total"] == 1:
                break
            time.sleep(0.2)
        assert status == 200 and json.loads(body)["total"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "archive: watching" in err.decode() and "监测合同.txt" in err.decode()
