"""Venue records in Redis and their resolution from AC + SSID (+ AP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portal.errors import ValidationError
from portal.venues.venue_store import FALLBACK, Venue, VenueStore, allowed_redirect


def test_round_trip_and_validation(redis_client: Any) -> None:
    store = VenueStore(redis_client, cache_ttl=0.0)
    venue = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=("ac1",), ssids=("S",),
                  ap_macs=("AA-BB-CC-DD-EE-01",), templates={"login": "<p>{{ venue.name }}</p>"},
                  ads=({"id": "a1", "title": "T"},))
    store.put(venue)
    back = store.get("lib")
    assert back.ap_macs == ("aa:bb:cc:dd:ee:01",) and back.templates["login"].startswith("<p>")
    assert back.ads[0]["id"] == "a1" and back.name("en") == "Library" and back.name("zh") == "图书馆"
    for bad in ({"id": "x y"}, {"id": "v", "redirect_url": "javascript:alert(1)"},
                {"id": "v", "templates": {"nope": ""}}, {"id": "v", "ad_seconds": 1000},
                {"id": "v", "ap_macs": ("zz",)}):
        with pytest.raises(ValidationError):
            Venue(**bad)  # type: ignore[arg-type]
    redis_client.hset("cw:{venues}:defs", "broken", "{not json")
    assert set(store.all()) == {"lib"}


def test_resolution_order(redis_client: Any) -> None:
    store = VenueStore(redis_client, cache_ttl=0.0)
    store.put(Venue(id="ap", ap_macs=("00:00:00:00:00:01",)))
    store.put(Venue(id="acssid", acs=("ac1",), ssids=("S",)))
    store.put(Venue(id="brand", ssids=("S", "T")))
    store.put(Venue(id="aconly", acs=("ac2",)))
    store.put(Venue(id="dflt", default=True))
    assert store.resolve("ac1", "S", "00-00-00-00-00-01").id == "ap"
    assert store.resolve("ac1", "S").id == "acssid"
    assert store.resolve("ac9", "T").id == "brand"
    assert store.resolve("ac2", "X").id == "aconly"
    assert store.resolve("ac1", None).id == "acssid"      # SSID unknown (MAC-trigger)
    assert store.resolve("ac9", "X").id == "dflt"
    store.delete("dflt")
    assert store.resolve("ac9", "X") is FALLBACK


def test_resolution_by_ap_group(redis_client: Any) -> None:
    """A venue claims the AC's AP group (Huawei ap-group-name); more specific
    than AC + SSID, less than an AP MAC; a venue restricted to AP groups does not catch the rest
    of its AC."""
    store = VenueStore(redis_client, cache_ttl=0.0)
    store.put(Venue(id="lib2f", acs=("ac1",), ap_groups=("图书馆-2F", "lib-3F")))
    store.put(Venue(id="anyac", ap_groups=("lobby",)))                     # any AC
    store.put(Venue(id="acssid", acs=("ac1",), ssids=("S",)))
    store.put(Venue(id="one-ap", ap_macs=("00:00:00:00:00:01",)))
    store.put(Venue(id="groups-only", acs=("ac2",), ap_groups=("g",)))
    assert store.resolve("ac1", "S", None, "图书馆-2F").id == "lib2f"
    assert store.resolve("ac1", "S", "00:00:00:00:00:09", "lib-3F").id == "lib2f"
    assert store.resolve("ac1", "S", "00:00:00:00:00:01", "lib-3F").id == "one-ap"   # AP MAC first
    assert store.resolve("ac9", "S", None, "图书馆-2F").id != "lib2f"             # not its AC
    assert store.resolve("ac9", "X", None, "lobby").id == "anyac"
    assert store.resolve("ac1", "S", None, "other").id == "acssid"
    assert store.resolve("ac1", "S").id == "acssid"
    assert store.resolve("ac2", "X", None, "other") is FALLBACK                  # not by AC alone
    assert store.resolve("ac2", "X", None, "g").id == "groups-only"


@pytest.mark.parametrize("group", ["", " lead", "a,b", "x" * 65, "ctl\x01"])
def test_bad_ap_group_names_are_refused(group: str) -> None:
    with pytest.raises(ValidationError, match="ap_groups"):
        Venue(id="v", ap_groups=(group,))


def test_allowed_redirect() -> None:
    hosts = ("library.example.cn", ".operator.cn")
    assert allowed_redirect("https://library.example.cn/a?b", hosts)
    assert allowed_redirect("http://www.operator.cn/", hosts)
    assert allowed_redirect("https://operator.cn/", hosts)
    for url in ("https://evil.cn/", "https://library.example.cn.evil.cn/", "javascript:alert(1)",
                "//library.example.cn/", "https://evil.cn\\@library.example.cn/", "", "ftp://operator.cn/",
                "https://xoperator.cn/"):
        assert not allowed_redirect(url, hosts), url


@pytest.mark.parametrize("venue_id", ["new", "campaigns", "Campaigns", "NEW", ".", ".."])
def test_reserved_ids_are_refused_with_a_clear_message(venue_id: str) -> None:
    with pytest.raises(ValidationError) as err:
        Venue(id=venue_id)
    message = str(err.value)
    assert "reserved" in message and "保留" in message and repr(venue_id) in message
    # Ids that merely contain a reserved word stay valid.
    assert Venue(id=f"{venue_id.strip('.') or 'x'}-park").id.endswith("-park")


def test_the_fallback_venue_id_cannot_be_taken(redis_client: Any) -> None:
    from portal.venues.venue_store import FALLBACK

    with pytest.raises(ValidationError, match="reserved"):
        VenueStore(redis_client).put(Venue(id=FALLBACK.id.upper()))
    assert VenueStore(redis_client).all() == {}


def test_reserved_ids_cover_every_fixed_segment_under_venue(redis_client: Any, data_dir: Path) -> None:
    """A new fixed page under /venue/ (say /venue/reports) must be added to RESERVED_IDS."""
    from portal.venues.venue_store import RESERVED_IDS
    from tests.portal.web.consolekit import make_app

    app = make_app(redis_client, data_dir)
    fixed = set()
    for rule in app.url_map.iter_rules():
        parts = rule.rule.split("/")
        if len(parts) > 2 and parts[1] == "venue" and parts[2] and "<" not in parts[2]:
            fixed.add(parts[2])
    assert {"new", "campaigns"} <= fixed
    assert fixed <= RESERVED_IDS, (f"add {sorted(fixed - RESERVED_IDS)} to "
                                   "portal.venues.venue_store.RESERVED_IDS")


def test_console_refuses_to_create_a_reserved_venue(redis_client: Any, data_dir: Path) -> None:
    from portal.admin.accounts import Role
    from tests.portal.web.consolekit import create_account, csrf, login, make_app

    app = make_app(redis_client, data_dir)
    _, password = create_account(redis_client, "noc1", Role.NOC)
    client = app.test_client()
    assert login(client, "noc1", password).status_code == 302
    token = csrf(client, "/venue/new")
    resp = client.post("/venue/new", data={"csrf_token": token, "id": "campaigns", "name_zh": "x"})
    assert resp.status_code == 400 and "reserved" in resp.get_data(as_text=True)
    assert VenueStore(redis_client).get_or_none("campaigns") is None
    # /venue/campaigns is still the campaigns console, not a venue.
    assert client.get("/venue/campaigns").status_code == 200
