"""Vendor profiles are complete, self-consistent data (docs/protocols/portal-protocol.md §2, §3, §7)."""

from __future__ import annotations

import pytest

from ac_adapters.constants import PacketType
from ac_adapters.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    AuthMethod,
    HeaderForm,
    MacAttr,
    MacEncoding,
    RedirectParams,
    VendorProfile,
    get_profile,
)

REQUIRED = ("huawei-v2", "huawei-v1", "h3c", "cmcc", "ruijie", "hanming", "autelan", "sangfor")
KINDS = {"user_ip", "ac_name", "ac_ip", "user_mac", "ap_mac", "ssid", "original_url", "vlan", "ap_group",
         "ap_location", "ap_name"}
ALL = list(PROFILES.values())


def test_required_profiles_exist_and_default_is_huawei_v2() -> None:
    assert set(REQUIRED) <= set(PROFILES)
    assert DEFAULT_PROFILE == "huawei-v2"
    assert get_profile("h3c") is PROFILES["h3c"]
    with pytest.raises(KeyError, match="huawei-v2"):
        get_profile("zte")


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_wire_fields_are_consistent(profile: VendorProfile) -> None:
    assert profile.name in PROFILES and PROFILES[profile.name] is profile
    assert profile.version in (1, 2)
    assert profile.has_authenticator == (profile.header is HeaderForm.LONG)
    assert profile.ntf_logout_reply in (PacketType.ACK_LOGOUT, PacketType.ACK_NTF_LOGOUT)
    assert isinstance(profile.mac_attr, MacAttr) and isinstance(profile.auth, AuthMethod)
    for flag in ("send_bas_ip", "heartbeat", "user_sync", "mac_trigger"):
        assert isinstance(getattr(profile, flag), bool)
    if profile.header is HeaderForm.LONG:
        assert profile.version == 2     # no known flavour signs a Ver-1 header (§1.3)


def test_vendor_facts_from_the_spec() -> None:
    p = PROFILES
    # §1.3 header forms
    assert p["huawei-v2"].header is HeaderForm.LONG and p["h3c"].header is HeaderForm.LONG
    assert {p[n].header for n in ("huawei-v1", "cmcc", "ruijie", "hanming", "sangfor")} == {
        HeaderForm.SHORT}
    # §1.10.5 NTF_LOGOUT reply: 0x0E Huawei/H3C, 0x06 CMCC flavour and EAG
    assert p["huawei-v2"].ntf_logout_reply == p["h3c"].ntf_logout_reply == 0x0E
    assert p["cmcc"].ntf_logout_reply == p["autelan"].ntf_logout_reply == 0x06
    # §1.7 MAC attribute style
    assert p["hanming"].mac_attr is MacAttr.HANMING
    assert p["h3c"].mac_attr is MacAttr.SESSION_ID
    # §2 MAC-trigger on H3C and EAG; H3C heartbeat
    assert p["h3c"].mac_trigger and p["autelan"].mac_trigger and p["h3c"].heartbeat
    # §3 redirect names per vendor
    assert p["hanming"].redirect.user_mac[0] == "wlanstamac"
    assert "wlanparameter" in p["autelan"].redirect.des_mac
    assert "wlanusermac" in p["autelan"].redirect.des_mac
    assert p["huawei-v2"].redirect.user_ip[0] == "user-ipaddress"
    assert p["h3c"].redirect.original_url[0] == "userurl"
    assert "vlan" in {f.kind for f in p["sangfor"].redirect.emit}
    assert [f.name for f in p["sangfor"].redirect.emit].count("ssid") == 2


@pytest.mark.parametrize("profile", ALL, ids=lambda p: p.name)
def test_redirect_emit_is_parseable_by_its_own_names(profile: VendorProfile) -> None:
    params = profile.redirect
    kinds = {f.kind for f in params.emit}
    assert kinds <= KINDS
    assert "user_ip" in kinds and kinds & {"ac_ip", "ac_name"}
    for spec in params.emit:
        accepted = [n.lower() for n in getattr(params, spec.kind)]
        if spec.mac_encoding is MacEncoding.DES_ECB_HEX:
            accepted += [n.lower() for n in params.des_mac]
        assert spec.name.lower() in accepted, (profile.name, spec)
        assert (spec.mac_encoding is not None) == (spec.kind in ("user_mac", "ap_mac"))


def test_redirect_params_default_is_backward_compatible() -> None:
    params = RedirectParams()
    assert params.user_ip[0] == "wlanuserip" and params.des_mac == ("wlanparameter",)
    assert "wlanstamac" in params.user_mac and "wip" in params.ac_ip
