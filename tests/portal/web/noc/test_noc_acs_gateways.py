"""Gateway kinds in the AC registry: ``kind`` and the openNDS ``faskey`` — seeded from
[[acs]], edited in the console and the API, the faskey write-only like every AC secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from portal.aaa.acs import AcRecord, AcRegistry
from portal.errors import ValidationError
from portal.runtime.settings import AcSeed
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.noc.test_noc_acs import FORM, app, audit_stream_text, post, signed_in

__all__ = ["app"]   # the fixture, re-used

FASKEY = "Fas0key0Cafe1"


def test_kind_defaults_to_portal_and_opennds_needs_a_shell_safe_faskey() -> None:
    assert AcRecord(name="a", addresses=("10.0.0.1",), secret="s3cret-01").kind == "portal"
    with pytest.raises(ValidationError, match="needs its faskey"):
        AcRecord(name="a", addresses=("10.0.0.1",), secret="s3cret-01", kind="opennds")
    with pytest.raises(ValidationError, match="letters and digits"):
        AcRecord(name="a", addresses=("10.0.0.1",), secret="s3cret-01", kind="opennds", faskey="a;reboot;")
    with pytest.raises(ValidationError, match="unknown kind"):
        AcRecord(name="a", addresses=("10.0.0.1",), secret="s3cret-01", kind="unifi-x")
    seeded = AcRecord.from_seed(AcSeed(name="gw1", addresses=("10.3.3.3",), secret="seed-secret-1",
                                       kind="opennds", faskey=FASKEY))
    assert (seeded.kind, seeded.faskey) == ("opennds", FASKEY)
    # Records stored before kinds existed read back as carrier ACs.
    old = json.loads(AcRecord(name="b", addresses=("10.0.0.2",), secret="s3cret-02").to_json())
    del old["kind"], old["faskey"]
    assert AcRecord.from_json(json.dumps(old)).kind == "portal"


def test_console_and_api_edit_kind_and_faskey_write_only(app: Flask, redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    noc = signed_in(app, redis_client)
    assert 'name="kind"' in noc.get("/noc/acs/new").get_data(as_text=True)
    refused = post(noc, "/noc/acs/new", {**FORM, "name": "gw1", "kind": "opennds"})
    assert refused.status_code == 400 and "faskey" in refused.get_data(as_text=True)
    created = post(noc, "/noc/acs/new", {**FORM, "name": "gw1", "kind": "opennds", "faskey": FASKEY})
    assert created.status_code == 201
    assert (registry.get("gw1").kind, registry.get("gw1").faskey) == ("opennds", FASKEY)
    assert FASKEY not in noc.get("/noc/acs/gw1").get_data(as_text=True)
    post(noc, "/noc/acs/gw1", {**FORM, "kind": "opennds"})                          # empty: kept
    assert registry.get("gw1").faskey == FASKEY
    assert post(noc, "/noc/acs/gw1", {**FORM, "kind": "opennds", "faskey": "bad key"}).status_code == 400
    write = auth(token(redis_client, "write", "oss"))
    client = app.test_client()
    resp = client.patch("/api/v1/acs/gw1", json={"faskey": "Other0Key99"}, headers=write)
    assert resp.status_code == 200 and resp.get_json()["faskey_set"] is True
    assert "faskey" not in resp.get_json()
    assert resp.get_json()["kind"] == "opennds"
    assert_matches_openapi(app, "PATCH", "/acs/{ac_name}", resp)
    assert registry.get("gw1").faskey == "Other0Key99"
    assert client.patch("/api/v1/acs/gw1", json={"faskey": "x;y"}, headers=write).status_code == 400
    assert client.patch("/api/v1/acs/gw1", json={"kind": "nope"}, headers=write).status_code == 400
    created = client.post("/api/v1/acs", json={"name": "gw2", "addresses": ["10.5.5.5"], "kind": "opennds",
                                               "faskey": FASKEY}, headers=write)
    assert created.status_code == 201 and registry.get("gw2").kind == "opennds"
    text = audit_stream_text(redis_client)
    assert FASKEY not in text and "Other0Key99" not in text


def test_omada_open_api_credential_is_write_only(app: Flask, redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    write = auth(token(redis_client, "write", "oss"))
    client = app.test_client()
    credential = "a1b2c3d4e5f60718:f0e1d2c3b4a5968778695a4b"
    body = {"name": "hotel1", "addresses": ["10.6.6.6"], "kind": "omada", "rfc5176": False,
            "controller_url": "https://op@10.6.6.6:8043/5f3c9e0a1b2c3d4e5f607182",
            "openapi_client": credential}
    created = client.post("/api/v1/acs", json=body, headers=write)
    assert created.status_code == 201, created.get_json()
    shown = client.get("/api/v1/acs/hotel1", headers=write).get_json()
    assert shown["openapi_client_set"] is True and "openapi_client" not in shown
    assert registry.get("hotel1").openapi_client == credential
    assert client.patch("/api/v1/acs/hotel1", json={"openapi_client": "no colon"},
                        headers=write).status_code == 400
    noc = signed_in(app, redis_client)
    page = noc.get("/noc/acs/hotel1").get_data(as_text=True)
    assert 'name="openapi_client"' in page and credential not in page
    cleared = client.patch("/api/v1/acs/hotel1", json={"openapi_client": ""}, headers=write)
    assert cleared.status_code == 200 and cleared.get_json()["openapi_client_set"] is False
    assert credential.split(":")[1] not in audit_stream_text(redis_client)
