"""An AC's portal packet sources (``AcRecord.portal_sources``): the registry index the listener
looks ACs up by, its upkeep on edit and delete, [[acs]] seeding, the NOC form and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.acs import AcRecord, AcRegistry
from portal.errors import ValidationError
from portal.runtime.seeding import seed_from_settings
from portal.runtime.settings import load_settings
from portal.state import keys
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import make_app
from tests.portal.web.noc.nockit import post, signed_in
from tests.portal.web.noc.test_noc_acs import FORM


def names(records: list[AcRecord]) -> list[str]:
    return [r.name for r in records]


def test_by_source_defaults_to_addresses_and_follows_edits(redis_client: Any) -> None:
    reg = AcRegistry(redis_client)
    reg.put(AcRecord(name="a", addresses=("10.0.0.1",), secret="s" * 8, bas_ip="10.9.0.1"))
    assert names(reg.by_source("10.0.0.1")) == ["a"]
    assert reg.by_source("10.9.0.1") == []          # a BAS-IP is not a source
    # Two ACs behind one NAT address: both listed, each under its own name.
    reg.put(AcRecord(name="b", addresses=("10.0.0.2",), secret="s" * 8,
                     portal_sources=("10.0.0.1", "192.0.2.7")))
    assert names(reg.by_source("10.0.0.1")) == ["a", "b"]
    assert names(reg.by_source("192.0.2.7")) == ["b"]
    assert reg.by_source("10.0.0.2") == []          # an explicit list replaces the default
    reg.put(AcRecord(name="b", addresses=("10.0.0.2",), secret="s" * 8, portal_sources=("192.0.2.8",)))
    assert names(reg.by_source("10.0.0.1")) == ["a"] and reg.by_source("192.0.2.7") == []
    assert not redis_client.exists(keys.ac_portal_source("192.0.2.7"))
    reg.delete("b")
    assert reg.by_source("192.0.2.8") == [] and not redis_client.exists(keys.ac_portal_source("192.0.2.8"))
    # A stale index entry (written by hand, or left by a crash) names nobody.
    redis_client.sadd(keys.ac_portal_source("10.0.0.1"), "a", "ghost")
    assert names(reg.by_source("10.0.0.1")) == ["a"]


@pytest.mark.parametrize("bad", [("not-an-ip",), (1,), tuple(f"10.1.0.{i}" for i in range(17))])
def test_portal_sources_are_validated(bad: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError):
        AcRecord(name="a", addresses=("10.0.0.1",), secret="s" * 8, portal_sources=bad)
    with pytest.raises(ValidationError):
        AcRecord.from_dict({"name": "a", "addresses": ["10.0.0.1"], "secret": "s" * 8,
                            "portal_sources": list(bad)})


def test_seeded_from_the_toml(tmp_path: Path, redis_client: Any) -> None:
    config = tmp_path / "citywifi.toml"
    config.write_text('[[acs]]\nname = "nat"\naddresses = ["10.0.0.5"]\nsecret = "seed-secret"\n'
                      'portal_sources = ["198.51.100.1"]\n', encoding="utf-8")
    seed_from_settings(redis_client, load_settings(config, environ={}))
    assert AcRegistry(redis_client).get("nat").portal_sources == ("198.51.100.1",)
    assert names(AcRegistry(redis_client).by_source("198.51.100.1")) == ["nat"]


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_console_form_and_api(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/acs/new", {**FORM, "name": "ac1", "portal_sources": "203.0.113.1，203.0.113.2"})
    assert resp.status_code == 201
    assert AcRegistry(redis_client).get("ac1").portal_sources == ("203.0.113.1", "203.0.113.2")
    page = noc.get("/noc/acs/ac1").get_data(as_text=True)
    assert 'name="portal_sources" value="203.0.113.1, 203.0.113.2"' in page
    refused = post(noc, "/noc/acs/ac1", {**FORM, "portal_sources": "203.0.113.x"})
    assert refused.status_code == 400
    assert post(noc, "/noc/acs/ac1", FORM).status_code == 302          # emptied: back to addresses
    assert AcRegistry(redis_client).get("ac1").portal_sources == ()
    client = app.test_client()
    write, read = auth(token(redis_client, "write")), auth(token(redis_client, "read"))
    resp = client.patch("/api/v1/acs/ac1", json={"portal_sources": ["203.0.113.9"]}, headers=write)
    assert resp.status_code == 200 and resp.get_json()["portal_sources"] == ["203.0.113.9"]
    assert client.get("/api/v1/acs/ac1", headers=read).get_json()["portal_sources"] == ["203.0.113.9"]
    assert names(AcRegistry(redis_client).by_source("203.0.113.9")) == ["ac1"]
    resp = client.patch("/api/v1/acs/ac1", json={"portal_sources": ["nope"]}, headers=write)
    assert resp.status_code == 400 and resp.get_json()["error"]["message_zh"]
