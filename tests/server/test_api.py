"""The JSON API: sign-in, the operations, access by policy, errors."""

from __future__ import annotations

from tests.server.conftest import api_sign_in


def test_sign_in_gives_a_token_and_bad_passphrases_401(client):
    r = client.post("/api/v1/session", json={"user": "bob", "passphrase": "wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["kind"] == "authentication failed"
    r = client.post("/api/v1/session", json={"user": "bob", "passphrase": "bob-pw"})
    assert r.status_code == 201
    body = r.json()
    assert len(body["token"]) >= 43 and body["expires"].endswith("Z") and body["user"] == "bob"


def test_malformed_sign_in_is_400(client):
    assert client.post("/api/v1/session", content=b"not json").status_code == 400
    assert client.post("/api/v1/session", json={"user": "bob"}).status_code == 400


def test_without_a_token_every_operation_is_401(client):
    for path in ("/api/v1/search?q=合同", "/api/v1/clients", "/api/v1/clients/C001", "/api/v1/documents/C001-x"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["kind"] == "authentication failed"
    assert client.get("/api/v1/clients", headers={"authorization": "Bearer forged"}).status_code == 401


def test_search_follows_the_policy(client, filed):
    legal = api_sign_in(client, "bob")
    r = client.get("/api/v1/search", params={"q": "合同"}, headers=legal)
    assert r.status_code == 200
    assert [h["doc_id"] for h in r.json()["hits"]] == [filed["contract"]]
    credit = api_sign_in(client, "carol")  # credit may not read contracts
    r = client.get("/api/v1/search", params={"q": "合同"}, headers=credit)
    assert r.status_code == 200
    assert r.json() == {"total": 0, "total_exact": True, "hits": []}  # not even a count of what is hidden


def test_bad_query_is_400_with_the_message(client):
    admin = api_sign_in(client, "alice")
    r = client.get("/api/v1/search", params={"q": "合同 AND"}, headers=admin)
    assert r.status_code == 400
    assert r.json()["error"]["kind"] == "bad input"
    r = client.get("/api/v1/search", params={"q": "合同", "limit": "many"}, headers=admin)
    assert r.status_code == 400


def test_clients_and_documents(client, filed):
    admin = api_sign_in(client, "alice")
    assert [c["client"] for c in client.get("/api/v1/clients", headers=admin).json()] == ["C001"]
    shown = client.get("/api/v1/clients/C001", headers=admin).json()
    assert shown["name"] == "北京星辰传媒有限公司"
    doc = client.get(f"/api/v1/documents/{filed['contract']}", headers=admin).json()
    assert doc["doc_id"] == filed["contract"] and doc["versions"][0]["version"] == 1
    assert client.get("/api/v1/clients/C999", headers=admin).status_code == 404


def test_a_document_of_a_class_the_user_lacks_is_refused(client, filed):
    credit = api_sign_in(client, "carol")
    r = client.get(f"/api/v1/documents/{filed['contract']}", headers=credit)
    assert r.status_code == 404  # as if it did not exist


def test_sign_out_ends_the_token(client, app):
    bob = api_sign_in(client, "bob")
    assert len(app.state.signins) == 1
    assert client.delete("/api/v1/session", headers=bob).status_code == 204
    assert client.get("/api/v1/clients", headers=bob).status_code == 401
    assert len(app.state.signins) == 0


def test_openapi_lists_the_operations(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/session", "/api/v1/search", "/api/v1/clients", "/api/v1/clients/{code}",
            "/api/v1/documents/{doc_id}"} <= set(spec["paths"])


def test_unknown_api_route_is_json_404(client):
    r = client.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["kind"] == "not found"


def test_search_by_date_range(client, filed):
    admin = api_sign_in(client, "alice")
    today = client.get(f"/api/v1/documents/{filed['contract']}", headers=admin).json()["date"]
    r = client.get("/api/v1/search", params={"q": "付款", "since": today, "until": today}, headers=admin)
    assert r.status_code == 200 and [h["doc_id"] for h in r.json()["hits"]] == [filed["contract"]]
    r = client.get("/api/v1/search", params={"q": "付款", "until": "2000-01-01"}, headers=admin)
    assert r.json()["total"] == 0
    assert client.get("/api/v1/search", params={"q": "付款", "until": "yesterday"}, headers=admin).status_code == 400
