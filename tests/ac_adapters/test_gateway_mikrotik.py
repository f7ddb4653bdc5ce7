"""MikroTik Hotspot adapter: octal-escaped CHAP values, the CHAP password, hostile login forms."""

from __future__ import annotations

import hashlib

import pytest

from ac_adapters.gateways import adapter_for
from ac_adapters.gateways.base import GatewayLimits, GatewayRedirectError
from ac_adapters.gateways.mikrotik import (
    MIKROTIK,
    chap_password,
    decode_octal,
    encode_octal,
    parse_login_form,
)

FORM = {"identity": "mt-1", "mac": "02:11:22:33:44:55", "ip": "10.5.50.7",
        "link-login-only": "http://10.5.50.1/login", "link-orig": "http://example.org/",
        "chap-id": "\\357", "chap-challenge": "\\221\\017\\000\\377", "error": ""}


def test_octal_escapes_are_routeros_rendering() -> None:
    assert decode_octal("\\357") == b"\xef"
    assert decode_octal("\\221\\017\\000\\377") == bytes([0x91, 0x0F, 0x00, 0xFF])
    assert encode_octal(b"\x00\xff\x41") == "\\000\\377\\101"
    for bad in ("", "\\400", "\\12", "ab", "\\357x", "\\0\\1"):
        with pytest.raises(GatewayRedirectError):
            decode_octal(bad)


def test_chap_password_is_md5_of_id_password_challenge() -> None:
    assert chap_password(b"\xef", "tok", b"\x91\x0f") == hashlib.md5(b"\xeftok\x91\x0f").hexdigest()


def test_parse_and_grant_url() -> None:
    parsed = parse_login_form(FORM)
    assert (parsed.gateway_name, parsed.user_ip) == ("mt-1", "10.5.50.7")
    assert parsed.user_mac == "02:11:22:33:44:55"
    assert dict(parsed.state) == {"login": "http://10.5.50.1/login", "chap_id": "ef", "challenge": "910f00ff"}
    state = {**parsed.state, "username": "18900000001", "password": "tok"}
    url = MIKROTIK.grant_url(state, "", GatewayLimits(), "https://op.example/welcome")
    digest = hashlib.md5(b"\xef" + b"tok" + bytes([0x91, 0x0F, 0x00, 0xFF])).hexdigest()
    assert url == (f"http://10.5.50.1/login?username=18900000001&password={digest}"
                   "&dst=https%3A%2F%2Fop.example%2Fwelcome&popup=true")
    assert adapter_for("mikrotik") is MIKROTIK and MIKROTIK.default_dialect == "mikrotik"


@pytest.mark.parametrize(("name", "value", "code"), [
    ("link-login-only", "http://evil.example/login", "bad_redirect"),       # a host name
    ("link-login-only", "http://10.5.50.1/status", "bad_redirect"),
    ("link-login-only", "http://10.5.50.1/login?x=1", "bad_redirect"),
    ("link-login-only", "javascript:alert(1)//10.5.50.1/login", "bad_redirect"),
    ("link-login-only", "http://u:p@10.5.50.1/login", "bad_redirect"),
    ("chap-id", "\\357\\001", "bad_redirect"),
    ("chap-challenge", "plain", "bad_redirect"),
    ("ip", "10.5.50", "bad_user_ip"),
    ("mac", "zz", "bad_mac"),
    ("identity", "", "unknown_ac"),
    ("identity", "a b", "unknown_ac"),
])
def test_hostile_forms_are_refused(name: str, value: str, code: str) -> None:
    with pytest.raises(GatewayRedirectError) as err:
        parse_login_form({**FORM, name: value})
    assert err.value.code == code


def test_grant_needs_the_routers_challenge_and_a_token() -> None:
    state = dict(parse_login_form(FORM).state)
    with pytest.raises(ValueError):
        MIKROTIK.grant_url({**state, "username": "u"}, "", GatewayLimits(), "/")
    with pytest.raises(ValueError):
        MIKROTIK.grant_url({**state, "chap_id": "", "username": "u", "password": "p"}, "",
                           GatewayLimits(), "/")
