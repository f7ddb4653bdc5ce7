"""Every vendor profile end to end: the simulated AC builds its redirect from the profile, the
portal parses it with the same profile (the AC registry in a real Redis, ``PhoneContexts``),
and the phone comes out as the same user IP, MAC and AC. No silent fallback to another vendor's
parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ac_adapters.profiles import PROFILES, MacEncoding, VendorProfile
from ac_adapters.simulator import SimConfig, SimulatedAc, build_redirect_url
from portal.aaa.acs import AcRecord, AcRegistry
from portal.phone.login_context import PhoneContexts
from portal.phone.login_types import LoginError
from portal.venues.venue_store import VenueStore

AC_IP = "192.0.2.10"
USER_IP = "10.20.30.41"
USER_MAC = "aa:bb:cc:00:00:41"
KEY = "k8Secret"


class Contexts(PhoneContexts):
    """The portal's redirect parsing, with only what it needs."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.acs = AcRegistry(redis)
        self.venues = VenueStore(redis, cache_ttl=0.0)
        self._ac_cache = {}


def _encrypts_mac(profile: VendorProfile) -> bool:
    return any(f.mac_encoding is MacEncoding.DES_ECB_HEX for f in profile.redirect.emit)


@pytest.fixture
def contexts(redis_client: Any) -> Iterator[Contexts]:
    yield Contexts(redis_client)


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=lambda p: p.name)
def test_simulator_redirect_parses_back_to_the_same_phone(contexts: Contexts,
                                                          profile: VendorProfile) -> None:
    key = KEY if _encrypts_mac(profile) else ""
    name = f"ac-{profile.name}"
    contexts.acs.put(AcRecord(name=name, addresses=(AC_IP,), secret="portal-secret",
                              vendor=profile.name, redirect_key=key))
    sim = SimulatedAc(SimConfig(flavour=profile.name, radius_host=None, local_users={},
                                coa_port=None, nas_ip=AC_IP, nas_identifier=name,
                                ssid="CityWiFi", redirect_key=key, vlan="100",
                                ap_group="Lobby")).start()
    try:
        sim.add_user(USER_IP, USER_MAC.upper().replace(":", "-"))
        url = sim.redirect_url(USER_IP, "https://portal.example/portal")
    finally:
        sim.stop()
    # The query names are this vendor's own (the first name of each field the profile emits).
    # (The simulator has no AP location or AP name to give; an AC leaves out what it has not.)
    emitted = [f.name for f in profile.redirect.emit
               if (f.mac_encoding is not MacEncoding.DES_ECB_HEX or key)
               and f.kind not in ("ap_location", "ap_name")]
    for param in emitted:
        assert f"{param}=" in url, (profile.name, param, url)
    ctx = contexts.context(url)
    assert (ctx.ac, ctx.user_ip, ctx.mac) == (name, USER_IP, USER_MAC)
    assert ctx.ssid == "CityWiFi" and ctx.first_url == "http://www.example.com/"
    if key:     # the AC vouched for the MAC with its DES key, and the portal checked it
        assert ctx.vouched == "vendor"


def test_an_unknown_flavour_is_an_error_not_cmcc(contexts: Contexts) -> None:
    with pytest.raises(KeyError, match="huawei-v2"):
        build_redirect_url("https://portal.example/portal", flavour="nokia", user_ip=USER_IP,
                           user_mac=USER_MAC, ac_ip=AC_IP, ac_name="x", ssid="s",
                           ap_mac="00:11:22:33:44:55", first_url="http://www.example.com/")


def test_a_redirect_for_another_vendor_still_names_its_ac(contexts: Contexts) -> None:
    """A Huawei redirect reaching the portal for an AC registered as H3C: the AC is still found
    by its address and the phone identified (the parser tries every profile's names)."""
    contexts.acs.put(AcRecord(name="mixed", addresses=(AC_IP,), secret="s", vendor="h3c"))
    url = build_redirect_url("https://portal.example/portal", flavour="huawei-v2", user_ip=USER_IP,
                             user_mac=USER_MAC, ac_ip=AC_IP, ac_name="mixed", ssid="s",
                             ap_mac="00:11:22:33:44:55", first_url="http://www.example.com/")
    ctx = contexts.context(url)
    assert (ctx.ac, ctx.user_ip, ctx.mac) == ("mixed", USER_IP, USER_MAC)
    with pytest.raises(LoginError) as err:
        contexts.context(url.replace(AC_IP, "192.0.2.99").replace("sysname=mixed", "sysname=nobody"))
    assert err.value.code == "unknown_ac"
