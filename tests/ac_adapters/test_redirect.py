"""Redirect parsing (docs/protocols/portal-protocol.md §3): every profile's own redirect parses back to
the same record; the quirks of §3 (duplicated ssid, MAC spellings, missing AP MAC, encoded
values, many first-URL names); EAG's DES-ECB MAC checked against OpenSSL; bilingual errors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ac_adapters.errors import RedirectError
from ac_adapters.profiles import PROFILES, MacEncoding, RedirectParams, VendorProfile
from ac_adapters.redirect import (
    AcHint,
    BadMac,
    BadUserIp,
    MissingUserIp,
    RedirectContext,
    UnknownAc,
    UnvouchedRedirect,
    build_redirect_query,
    build_redirect_url,
    decode_des_mac,
    encode_des_mac,
    format_mac,
    normalise_mac,
    parse_redirect,
)

KEY = "12345678"
# OpenSSL 3: printf 'AA-BB-CC-DD-EE-FF' | openssl enc -des-ecb -provider legacy -provider default
#            -K 3132333435363738 | xxd -p
OPENSSL_VECTOR = "ce777e5016b22a42a21395bdc4aab504fcd7d7a2116e196a"


def _resolver(
    hint: AcHint, calls: list[tuple[str | None, str | None]] | None = None
) -> Callable[[str | None, str | None], AcHint | None]:
    def resolve(ac_ip: str | None, ac_name: str | None) -> AcHint | None:
        if calls is not None:
            calls.append((ac_ip, ac_name))
        return hint
    return resolve


def _parse(query: str, profile: str = "cmcc", des_key: str | None = None) -> RedirectContext:
    return parse_redirect(query, resolve_ac=_resolver(AcHint("ac1", PROFILES[profile], des_key)))


# --- every profile: build → parse is the identity ------------------------------------------

macs = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
ipv4 = st.integers(1, 0xFFFFFFFE).map(lambda n: ".".join(str((n >> s) & 0xFF) for s in (24, 16, 8, 0)))
ssids = st.text(min_size=1, max_size=32).map(str.strip).filter(bool)
urls = st.from_regex(r"https?://[a-z0-9.]{1,20}(/[a-zA-Z0-9_&=?%/.-]{0,30})?", fullmatch=True)


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=lambda p: p.name)
@settings(max_examples=25, deadline=None)
@given(user_ip=ipv4, ac_ip=ipv4, user_mac=macs, ap_mac=macs, ssid=ssids, url=urls,
       with_key=st.booleans())
def test_each_profile_parses_its_own_redirect(
    profile: VendorProfile, user_ip: str, ac_ip: str, user_mac: str, ap_mac: str, ssid: str,
    url: str, with_key: bool,
) -> None:
    key = KEY if with_key else None
    values = {"user_ip": user_ip, "ac_ip": ac_ip, "ac_name": "AC-1", "user_mac": user_mac,
              "ap_mac": ap_mac, "ssid": ssid, "original_url": url, "vlan": "42"}
    full = build_redirect_url("https://portal.example/login", profile.redirect, values,
                              des_key=key)
    calls: list[tuple[str | None, str | None]] = []
    ctx = parse_redirect(full, resolve_ac=_resolver(AcHint("AC-1", profile, key), calls))
    assert calls == [(ac_ip, "AC-1")]
    emitted = {f.kind for f in profile.redirect.emit}
    assert ctx.user_ip == user_ip
    assert ctx.user_mac == user_mac
    assert ctx.ssid == ssid
    assert ctx.original_url == url
    assert ctx.ap_mac == (ap_mac if "ap_mac" in emitted else None)
    assert ctx.vlan == ("42" if "vlan" in emitted else None)


# --- DES-ECB MAC (EAG) ---------------------------------------------------------------------

def test_des_mac_known_answer_and_inverse() -> None:
    assert encode_des_mac("aa:bb:cc:dd:ee:ff", KEY) == OPENSSL_VECTOR
    assert encode_des_mac("AABB.CCDD.EEFF", KEY.encode()) == OPENSSL_VECTOR
    assert decode_des_mac(OPENSSL_VECTOR.upper(), KEY) == "aa:bb:cc:dd:ee:ff"
    assert decode_des_mac(OPENSSL_VECTOR, "87654321") is None       # wrong key: bad padding/text
    assert decode_des_mac("abc", KEY) is None
    assert decode_des_mac("zz" * 24, KEY) is None
    with pytest.raises(ValueError):
        encode_des_mac("aa:bb:cc:dd:ee:ff", "short")


def _openssl_des(plain: bytes, key: bytes) -> str | None:
    exe = shutil.which("openssl")
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "enc", "-des-ecb", "-provider", "legacy", "-provider", "default", "-K", key.hex()],
        input=plain, capture_output=True, timeout=20, check=False,
    )
    return proc.stdout.hex() if proc.returncode == 0 else None


@settings(max_examples=5, deadline=None)
@given(mac=macs, key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=8))
def test_des_mac_matches_openssl(mac: str, key: str) -> None:
    expected = _openssl_des(mac.upper().replace(":", "-").encode(), key.encode())
    if expected is None:
        pytest.skip("openssl with the legacy provider (DES) is not available")
    assert encode_des_mac(mac, key) == expected
    assert decode_des_mac(expected, key) == mac


def test_eag_redirect_with_des_only() -> None:
    q = f"wlanuserip=10.1.2.3&wlanacname=eag&wlanparameter={OPENSSL_VECTOR}&wlanapmac=001122AABBCC"
    ctx = _parse(q, "autelan", KEY)
    assert ctx.user_mac == "aa:bb:cc:dd:ee:ff"
    assert ctx.ap_mac == "00:11:22:aa:bb:cc"
    # wlanusermac in EAG is the DES form too
    assert _parse(f"wlanuserip=10.1.2.3&wlanacname=eag&wlanusermac={OPENSSL_VECTOR}",
                  "autelan", KEY).user_mac == "aa:bb:cc:dd:ee:ff"
    # A CMCC-profile AC that happens to send DES gets it decoded when it has a key.
    assert _parse(f"wlanuserip=10.1.2.3&wlanacname=x&wlanusermac={OPENSSL_VECTOR}",
                  "cmcc", KEY).user_mac == "aa:bb:cc:dd:ee:ff"
    # No key: wlanparameter is unknown to us, not an error; the MAC is simply absent.
    assert _parse(f"wlanuserip=10.1.2.3&wlanacname=eag&wlanparameter={OPENSSL_VECTOR}",
                  "autelan").user_mac is None
    with pytest.raises(BadMac):      # a wrong key must not yield a garbage MAC
        _parse(f"wlanuserip=10.1.2.3&wlanacname=eag&wlanparameter={OPENSSL_VECTOR}",
               "autelan", "87654321")


def _vouched(query: str, profile: str = "autelan") -> RedirectContext:
    hint = AcHint("eag", PROFILES[profile], KEY, vouched_only=True)
    return parse_redirect(query, resolve_ac=_resolver(hint))


def test_an_ac_that_encrypts_its_macs_vouches_for_them() -> None:
    base = "wlanuserip=10.1.2.3&wlanacname=eag"
    # What EAG sends: the ciphertext, plus plain copies that agree (any spelling).
    ctx = _vouched(f"{base}&wlanparameter={OPENSSL_VECTOR}&usermac=AA:BB:CC:DD:EE:FF"
                   f"&client_mac=aa:bb:cc:dd:ee:ff&wlanusermac={OPENSSL_VECTOR}")
    assert ctx.user_mac == "aa:bb:cc:dd:ee:ff" and ctx.mac_vouched
    assert _vouched(f"{base}&wlanparameter={OPENSSL_VECTOR}", "cmcc").mac_vouched
    # Without a key the same MAC is a mere claim.
    assert not _parse(f"{base}&usermac=AA:BB:CC:DD:EE:FF").mac_vouched
    # Plain only (typed by anyone), nothing at all, a plain MAC naming someone else, a
    # ciphertext of another key, two ciphertexts naming two devices: all refused.
    with pytest.raises(UnvouchedRedirect) as err:
        _vouched(f"{base}&usermac=AA:BB:CC:DD:EE:FF")
    assert err.value.code == "unvouched_redirect" and "Wi-Fi" in str(err.value)
    with pytest.raises(UnvouchedRedirect):
        _vouched(base)
    with pytest.raises(BadMac):
        _vouched(f"{base}&wlanparameter={OPENSSL_VECTOR}&mac=02:00:00:00:00:01")
    with pytest.raises(BadMac):
        _vouched(f"{base}&wlanparameter={encode_des_mac('02:00:00:00:00:01', '87654321')}")
    with pytest.raises(BadMac):
        _vouched(f"{base}&wlanparameter={OPENSSL_VECTOR}"
                 f"&wlanusermac={encode_des_mac('02:00:00:00:00:01', KEY)}")


# --- §3 quirks -----------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", [
    "AA-BB-CC-DD-EE-0F", "aa:bb:cc:dd:ee:0f", "AABBCCDDEE0F", "aabb.ccdd.ee0f", "aabb-ccdd-ee0f",
    "Aa:bB:cC:Dd:eE:0f", " aa-bb-cc-dd-ee-0f ",
])
@pytest.mark.parametrize("name", ["wlanusermac", "usermac", "mac", "wlanstamac", "client_mac",
                                  "user-mac", "sta_mac"])
def test_mac_spellings_and_names(spelling: str, name: str) -> None:
    ctx = _parse(f"wlanuserip=10.0.0.9&wlanacname=x&{name}={quote(spelling)}")
    assert ctx.user_mac == "aa:bb:cc:dd:ee:0f"


def test_duplicated_ssid_missing_ap_mac_and_encoded_values() -> None:
    q = ("wlanuserip=10.0.0.9&nasip=10.9.9.9&ssid=&ssid=City%20WiFi&ssid=Other"
         "&wlanuserfirsturl=http%3A%2F%2Fnews.example%2Fa%3Fx%3D1%26y%3D%E4%B8%AD")
    ctx = _parse(q)
    assert ctx.ssid == "City WiFi"
    assert ctx.ap_mac is None and ctx.user_mac is None
    assert ctx.original_url == "http://news.example/a?x=1&y=中"
    assert ctx.ac_ip == "10.9.9.9" and ctx.ac_name is None
    assert ("ssid", "Other") in ctx.raw


@pytest.mark.parametrize("name", ["wlanuserfirsturl", "url", "userurl", "firsturl", "redirect",
                                  "rehost", "redirect-url", "original-url"])
def test_first_url_under_many_names(name: str) -> None:
    assert _parse(f"wlanuserip=10.0.0.9&wlanacname=x&{name}=http%3A%2F%2Fa.example%2F"
                  ).original_url == "http://a.example/"


def test_first_url_double_encoded_and_unsafe_schemes() -> None:
    assert _parse("wlanuserip=10.0.0.9&wlanacname=x&url=http%253A%252F%252Fa.example%252Fp"
                  ).original_url == "http://a.example/p"
    assert _parse("wlanuserip=10.0.0.9&wlanacname=x&url=javascript%3Aalert(1)").original_url is None
    assert _parse("wlanuserip=10.0.0.9&wlanacname=x&url=").original_url is None


def test_inputs_full_url_mapping_case_and_gbk() -> None:
    ctx = _parse("http://portal.example/?WlanUserIp=10.0.0.7&NASID=ac-9&SSID=%B3%C7%CA%D0WiFi")
    assert (ctx.user_ip, ctx.ac_name, ctx.ssid) == ("10.0.0.7", "ac-9", "城市WiFi")
    ctx = parse_redirect({"wlanuserip": ["10.0.0.8"], "wlanacip": ["10.0.0.1"], "ssid": "x"},
                         resolve_ac=_resolver(AcHint("a")))
    assert (ctx.user_ip, ctx.ac_ip, ctx.ssid) == ("10.0.0.8", "10.0.0.1", "x")


@pytest.mark.parametrize(("query", "expected"), [
    ("wlanacip=10.0.0.1&wlanuserip=1.1.1.1", ("10.0.0.1", None)),
    ("nasip=10.0.0.2&wlanuserip=1.1.1.1", ("10.0.0.2", None)),
    ("ac-ip=10.0.0.3&user-ipaddress=1.1.1.1", ("10.0.0.3", None)),
    ("wip=10.0.0.4&wlanuserip=1.1.1.1", ("10.0.0.4", None)),
    ("wlanacname=acA&wlanuserip=1.1.1.1", (None, "acA")),
    ("nasid=acB&userip=1.1.1.1", (None, "acB")),
    ("wlanacname=acC&wlanacip=10.0.0.5&wlanuserip=1.1.1.1", ("10.0.0.5", "acC")),
])
def test_ac_lookup_is_by_ip_or_name(query: str, expected: tuple[str | None, str | None]) -> None:
    calls: list[tuple[str | None, str | None]] = []
    parse_redirect(query, resolve_ac=_resolver(AcHint("a"), calls))
    assert calls == [expected]


def test_per_ac_parameter_names_override() -> None:
    # A Huawei admin chose url-parameter keys "uip" and "umac".
    names = RedirectParams(user_ip=("uip",), user_mac=("umac",))
    ctx = parse_redirect("ac-ip=10.0.0.1&uip=10.3.3.3&umac=00-11-22-33-44-55",
                         resolve_ac=_resolver(AcHint("hw", PROFILES["huawei-v2"], params=names)))
    assert (ctx.user_ip, ctx.user_mac) == ("10.3.3.3", "00:11:22:33:44:55")


# --- errors --------------------------------------------------------------------------------

def test_unknown_ac() -> None:
    with pytest.raises(UnknownAc) as info:
        parse_redirect("wlanuserip=10.0.0.1&wlanacip=10.9.9.9", resolve_ac=lambda ip, name: None)
    assert info.value.code == "unknown_ac"
    assert "无法识别接入设备（AC）" in info.value.user_message
    assert "could not identify your access controller" in info.value.user_message
    calls: list[tuple[str | None, str | None]] = []
    with pytest.raises(UnknownAc):     # nothing to look the AC up by: the resolver is not asked
        parse_redirect("wlanuserip=10.0.0.1", resolve_ac=_resolver(AcHint("a"), calls))
    assert calls == []


@pytest.mark.parametrize(("query", "error", "code"), [
    ("wlanacname=x", MissingUserIp, "missing_user_ip"),
    ("wlanacname=x&wlanuserip=", MissingUserIp, "missing_user_ip"),
    ("wlanacname=x&wlanuserip=10.0.0.256", BadUserIp, "bad_user_ip"),
    ("wlanacname=x&wlanuserip=%3Cscript%3E", BadUserIp, "bad_user_ip"),
    ("wlanacname=x&wlanuserip=10.0.0.1&wlanusermac=zz-zz", BadMac, "bad_mac"),
])
def test_errors_have_codes_and_bilingual_messages(
    query: str, error: type[RedirectError], code: str
) -> None:
    with pytest.raises(error) as info:
        _parse(query)
    assert info.value.code == code
    zh, en = info.value.user_message.split(" / ", 1)       # type: ignore[attr-defined]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii()


def test_bad_ap_mac_is_dropped_not_fatal() -> None:
    assert _parse("wlanacname=x&wlanuserip=10.0.0.1&wlanapmac=nonsense").ap_mac is None


@settings(max_examples=200, deadline=None)
@given(query=st.text(max_size=300))
def test_arbitrary_queries_raise_only_redirect_errors(query: str) -> None:
    try:
        ctx = parse_redirect(query, resolve_ac=_resolver(AcHint("a", PROFILES["autelan"], KEY)))
    except RedirectError:
        return
    assert ctx.user_ip


# --- MAC formats ---------------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "text"), [
    (MacEncoding.COLON_LOWER, "0a:1b:2c:3d:4e:5f"),
    (MacEncoding.COLON_UPPER, "0A:1B:2C:3D:4E:5F"),
    (MacEncoding.DASH_LOWER, "0a-1b-2c-3d-4e-5f"),
    (MacEncoding.DASH_UPPER, "0A-1B-2C-3D-4E-5F"),
    (MacEncoding.BARE_LOWER, "0a1b2c3d4e5f"),
    (MacEncoding.BARE_UPPER, "0A1B2C3D4E5F"),
    (MacEncoding.DASH4_LOWER, "0a1b-2c3d-4e5f"),
    (MacEncoding.DOT4_LOWER, "0a1b.2c3d.4e5f"),
])
def test_format_mac_every_plain_encoding(encoding: MacEncoding, text: str) -> None:
    assert format_mac("0A-1B-2C-3D-4E-5F", encoding) == text
    assert normalise_mac(text) == "0a:1b:2c:3d:4e:5f"


def test_format_mac_des_and_errors() -> None:
    assert format_mac("aa:bb:cc:dd:ee:ff", MacEncoding.DES_ECB_HEX, KEY) == OPENSSL_VECTOR
    with pytest.raises(ValueError):
        format_mac("aa:bb:cc:dd:ee:ff", MacEncoding.DES_ECB_HEX)
    with pytest.raises(ValueError):
        format_mac("aa:bb", MacEncoding.COLON_LOWER)
    assert normalise_mac("aa:bb:cc:dd:ee") is None
    assert normalise_mac("gg:bb:cc:dd:ee:ff") is None
    # Without a key, an EAG-style AC's redirect carries only its plain MAC parameters.
    query = build_redirect_query(PROFILES["autelan"].redirect,
                                 {"user_ip": "10.0.0.1", "user_mac": "aa:bb:cc:dd:ee:ff"})
    assert "wlanparameter" not in query and "usermac=AA%3ABB" in query


# --- AP group / location / name ---------------------------------------------------------------

def test_huawei_ap_group_location_and_name_are_parsed() -> None:
    """Huawei url-parameter kinds ap-group-name, ap-location, ap-name (kind names as keys),
    percent-encoded UTF-8 as Huawei sends Chinese names; other families leave them None."""
    query = ("ac-ip=10.0.0.1&user-ipaddress=10.1.2.3&user-mac=aabb-ccdd-eeff&ssid=CityWiFi"
             f"&ap-mac=0011-2233-4455&ap-group-name={quote('图书馆-2F')}&ap-location={quote('二楼 东侧')}"
             "&ap-name=AP-LIB-2F-07&redirect-url=http%3A%2F%2Fexample.com%2F")
    ctx = _parse(query, "huawei-v2")
    assert (ctx.ap_group, ctx.ap_location, ctx.ap_name) == ("图书馆-2F", "二楼 东侧", "AP-LIB-2F-07")
    assert ctx.ap_mac == "00:11:22:33:44:55"
    # Any profile falls back to these names (a mis-set profile still finds the group).
    assert _parse("wlanuserip=10.1.2.3&wlanacname=ac1&ap-group-name=lobby").ap_group == "lobby"
    assert _parse("wlanuserip=10.1.2.3&wlanacname=ac1").ap_group is None


@pytest.mark.parametrize("value", ["", "x" * 65, "bad\x00group", "tab\there", "del\x7f"])
def test_an_odd_ap_group_is_dropped_not_an_error(value: str) -> None:
    ctx = _parse(f"wlanuserip=10.1.2.3&wlanacname=ac1&ap-group-name={quote(value)}")
    assert ctx.ap_group is None and ctx.user_ip == "10.1.2.3"


def test_a_huawei_ac_emits_its_ap_group() -> None:
    values = {"user_ip": "10.1.2.3", "ac_ip": "10.0.0.1", "ac_name": "AC-1", "user_mac": "aa:bb:cc:dd:ee:ff",
              "ap_group": "F2 east", "ap_location": "Floor 2", "ap_name": "ap-7"}
    full = build_redirect_url("https://portal.example/portal", PROFILES["huawei-v2"].redirect, values)
    assert "ap-group-name=F2+east" in full
    ctx = parse_redirect(full, resolve_ac=_resolver(AcHint("AC-1", PROFILES["huawei-v2"])))
    assert (ctx.ap_group, ctx.ap_location, ctx.ap_name) == ("F2 east", "Floor 2", "ap-7")
