"""The chilli and mikrotik gateway kinds in the AC registry: validation, their default RADIUS
dialect, the console's kind list, and the API."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from portal.aaa.acs import GATEWAY_KINDS, AcRecord, AcRegistry
from portal.errors import ValidationError
from portal.runtime.settings import AcSeed
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.noc.test_noc_acs import app, signed_in

__all__ = ["app"]   # the fixture, re-used


def test_kinds_validate_and_pick_their_dialect() -> None:
    assert {"chilli", "mikrotik"} <= set(GATEWAY_KINDS)
    chilli = AcRecord(name="c1", addresses=("10.0.0.1",), secret="uam-secret-1", kind="chilli")
    assert chilli.effective_radius_dialect == "chillispot"
    assert AcRecord(name="c2", addresses=("10.0.0.2",), secret="uam-secret-1", kind="chilli",
                    radius_dialect="wispr").effective_radius_dialect == "wispr"
    with pytest.raises(ValidationError, match="uamsecret"):
        AcRecord(name="c3", addresses=("10.0.0.3",), secret="short", kind="chilli")
    seeded = AcRecord.from_seed(AcSeed(name="m1", addresses=("10.0.0.4",), secret="radius-secret-1",
                                       kind="mikrotik"))
    assert (seeded.kind, seeded.effective_radius_dialect) == ("mikrotik", "mikrotik")
    carrier = AcRecord(name="p1", addresses=("10.0.0.5",), secret="s3cret-01")
    assert carrier.effective_radius_dialect == "huawei"


def test_unifi_needs_its_controller_and_no_dm() -> None:
    ok = AcRecord(name="site1", addresses=("10.0.0.6",), secret="api-pass-0123", kind="unifi",
                  controller_url="https://hotspot@unifi.example:8443", rfc5176=False)
    assert ok.controller_url.startswith("https://hotspot@")
    with pytest.raises(ValidationError, match="controller_url is required"):
        AcRecord(name="site2", addresses=("10.0.0.7",), secret="api-pass-0123", kind="unifi", rfc5176=False)
    with pytest.raises(ValidationError, match="no password"):
        AcRecord(name="site3", addresses=("10.0.0.8",), secret="x" * 12, kind="unifi", rfc5176=False,
                 controller_url="https://u:leak@unifi.example")
    with pytest.raises(ValidationError, match="rfc5176 = false"):
        AcRecord(name="site4", addresses=("10.0.0.9",), secret="x" * 12, kind="unifi",
                 controller_url="https://u@unifi.example")


def test_omada_needs_its_controller_id() -> None:
    ok = AcRecord(name="site1", addresses=("10.0.1.6",), secret="op-pass-0123", kind="omada",
                  controller_url="https://op@omada.example:8043/5f3c9e0a", rfc5176=False)
    assert ok.kind == "omada"
    with pytest.raises(ValidationError, match="required for an Omada"):
        AcRecord(name="site2", addresses=("10.0.1.7",), secret="op-pass-0123", kind="omada", rfc5176=False)
    with pytest.raises(ValidationError, match="controller id"):
        AcRecord(name="site3", addresses=("10.0.1.8",), secret="op-pass-0123", kind="omada", rfc5176=False,
                 controller_url="https://op@omada.example:8043")


def test_console_lists_the_kinds_and_the_api_creates_them(app: Flask, redis_client: Any) -> None:
    page = signed_in(app, redis_client).get("/noc/acs/new").get_data(as_text=True)
    assert 'value="chilli"' in page and "CoovaChilli (UAM)" in page and 'value="mikrotik"' in page
    assert 'value="unifi"' in page and 'name="controller_url"' in page
    write = auth(token(redis_client, "write", "oss-gw"))
    client = app.test_client()
    for name, kind, address in (("chilli-gw", "chilli", "10.6.6.1"), ("mt-gw", "mikrotik", "10.6.6.2")):
        resp = client.post("/api/v1/acs", json={"name": name, "addresses": [address], "kind": kind,
                                                "secret": "a-long-enough-secret-1", "rfc5176": True},
                           headers=write)
        assert resp.status_code == 201, resp.get_json()
        assert_matches_openapi(app, "POST", "/acs", resp)
        assert AcRegistry(redis_client).get(name).kind == kind
    unifi = client.post("/api/v1/acs", json={"name": "site9", "addresses": ["10.6.6.9"], "kind": "unifi",
                                             "secret": "api-pass-0123456789", "rfc5176": False,
                                             "controller_url": "https://hotspot@unifi.example:8443"},
                        headers=write)
    assert unifi.status_code == 201, unifi.get_json()
    shown = client.get("/api/v1/acs/site9", headers=write)
    assert shown.get_json()["controller_url"] == "https://hotspot@unifi.example:8443"
    assert "api-pass-0123456789" not in shown.get_data(as_text=True)
    assert_matches_openapi(app, "GET", "/acs/{ac_name}", shown)
    short = client.post("/api/v1/acs", json={"name": "c-short", "addresses": ["10.6.6.3"], "kind": "chilli",
                                             "secret": "short"}, headers=write)
    assert short.status_code == 400
