"""CoovaChilli UAM adapter: md over the redirect URL, PAP/CHAP logon encoding, hostile redirects."""

from __future__ import annotations

import hashlib

import pytest

from ac_adapters.gateways import SignedRedirects, adapter_for
from ac_adapters.gateways.base import GatewayLimits, GatewayRedirectError
from ac_adapters.gateways.chilli import (
    CHILLI,
    chap_response,
    chilli_quote,
    json_base,
    logon_url,
    pap_password,
    parse_result,
    parse_uam_query,
    signed_text,
    verify_md,
)

SECRET = "uamsecret"
BASE = "http://portal.example/portal"
CHALLENGE = "0123456789abcdef0123456789abcdef"
ITEMS = [("res", "notyet"), ("uamip", "10.1.0.1"), ("uamport", "3990"), ("challenge", CHALLENGE),
         ("called", "00-0A-0B-0C-0D-0E"), ("mac", "02-11-22-33-44-55"), ("ip", "10.1.0.7"),
         ("nasid", "cafe-1"), ("sessionid", "5f1a2b3c00000001"), ("userurl", "http://example.org/a?b=c d")]


def _md(items: list[tuple[str, str]], secret: str = SECRET, base: str = BASE) -> str:
    # Written out from Chilli's description: the URL text before "&md=", then the secret, MD5, HEX.
    text = base + "?" + "&".join(f"{n}={chilli_quote(v)}" for n, v in items)
    return hashlib.md5((text + secret).encode()).hexdigest().upper()


def test_quote_is_chillis_redir_urlencode() -> None:
    assert chilli_quote("http://a.b/c d~*!") == "http%3a%2f%2fa.b%2fc%20d~*!"
    assert chilli_quote("é") == "%c3%a9"


def test_md_verifies_only_with_the_secret_and_the_configured_url() -> None:
    signed = [*ITEMS, ("md", _md(ITEMS))]
    assert signed_text(BASE, signed).endswith("userurl=http%3a%2f%2fexample.org%2fa%3fb%3dc%20d")
    assert verify_md(signed, SECRET, ["https://other/portal", BASE])
    assert verify_md([*ITEMS, ("md", _md(ITEMS).lower())], SECRET, [BASE])
    assert not verify_md(signed, "other-secret", [BASE])
    assert not verify_md(signed, SECRET, ["http://portal.example/"])
    assert not verify_md(ITEMS, SECRET, [BASE])                     # no md: never trusted
    assert not verify_md(signed, "", [BASE])
    tampered = [(n, "02-99-99-99-99-99" if n == "mac" else v) for n, v in signed]
    assert not verify_md(tampered, SECRET, [BASE])
    reordered = [signed[1], signed[0], *signed[2:]]
    assert not verify_md(reordered, SECRET, [BASE])
    assert isinstance(CHILLI, SignedRedirects) and adapter_for("chilli") is CHILLI


def test_pap_and_chap_encodings_follow_the_uam_description() -> None:
    newchal = hashlib.md5(bytes.fromhex(CHALLENGE) + SECRET.encode()).digest()
    enc = bytes.fromhex(pap_password("token-abcdefghij", CHALLENGE, SECRET))
    assert bytes(b ^ newchal[i % 16] for i, b in enumerate(enc)) == b"token-abcdefghij"
    long_enc = bytes.fromhex(pap_password("x" * 40, CHALLENGE, SECRET))     # newchal repeats
    assert bytes(b ^ newchal[i % 16] for i, b in enumerate(long_enc)) == b"x" * 40
    assert chap_response("pw", CHALLENGE, SECRET) == hashlib.md5(b"\x00pw" + newchal).hexdigest()
    # Without a uamsecret the raw challenge is the key.
    raw = bytes.fromhex(pap_password("pw", CHALLENGE, ""))
    assert bytes(b ^ bytes.fromhex(CHALLENGE)[i] for i, b in enumerate(raw)) == b"pw"
    with pytest.raises(ValueError):
        pap_password("pw", "nothex", SECRET)


def test_parse_notyet_and_results() -> None:
    query = dict(ITEMS)
    parsed = parse_uam_query(query)
    assert (parsed.gateway_name, parsed.user_ip) == ("cafe-1", "10.1.0.7")
    assert parsed.user_mac == "02:11:22:33:44:55"
    assert dict(parsed.state) == {"uamip": "10.1.0.1", "uamport": "3990", "challenge": CHALLENGE}
    assert parse_result(query) is None
    failed = parse_result({**query, "res": "failed", "reply": "quota used"})
    assert failed is not None and (failed.res, failed.reply, failed.uamport) == ("failed", "quota used", 3990)
    for bad, code in ((("uamip", "evil.example"), "bad_redirect"), (("uamport", "0"), "bad_redirect"),
                      (("challenge", "zz"), "bad_redirect"), (("ip", "::1"), "bad_user_ip"),
                      (("mac", "nope"), "bad_mac"), (("nasid", ""), "unknown_ac"),
                      (("res", "success"), "bad_redirect")):
        with pytest.raises(GatewayRedirectError) as err:
            parse_uam_query({**query, bad[0]: bad[1]})
        assert err.value.code == code, bad
    with pytest.raises(GatewayRedirectError):
        parse_result({**query, "res": "hacked"})


def test_logon_url_goes_to_the_gateway_literal_address_only() -> None:
    state = {"uamip": "10.1.0.1", "uamport": "3990", "challenge": CHALLENGE,
             "username": "18900000001", "password": "tok"}
    url = CHILLI.grant_url(state, SECRET, GatewayLimits(session_seconds=60), "https://p.example/portal/status?s=1")
    assert url.startswith("http://10.1.0.1:3990/logon?username=18900000001&password=")
    assert "userurl=https%3A%2F%2Fp.example%2Fportal%2Fstatus%3Fs%3D1" in url
    chap = logon_url(state, SECRET, "u", "tok", "/", method="chap")
    assert f"response={chap_response('tok', CHALLENGE, SECRET)}" in chap and "password=" not in chap
    with pytest.raises(GatewayRedirectError):
        CHILLI.grant_url({**state, "uamip": "gw.example"}, SECRET, GatewayLimits(), "/")
    with pytest.raises(ValueError):
        CHILLI.grant_url({**state, "password": ""}, SECRET, GatewayLimits(), "/")


def test_json_interface_address_and_the_ssl_listener() -> None:
    state = {"uamip": "10.1.0.1", "uamport": "3990", "challenge": CHALLENGE,
             "username": "18900000001", "password": "tok"}
    assert json_base(state) == "http://10.1.0.1:3990/json/"
    url = CHILLI.json_logon_url(state, SECRET, "/portal/welcome?s=1")
    plain = CHILLI.grant_url(state, SECRET, GatewayLimits(), "/portal/welcome?s=1")
    assert url == plain.replace("http://10.1.0.1:3990/logon?", "http://10.1.0.1:3990/json/logon?")
    # uamuissl: the redirect names Chilli's HTTPS listener (signed with the rest); JSON goes there.
    signed = parse_uam_query({**dict(ITEMS), "ssl": "https://hotspot.cafe.example:4990/"})
    assert signed.state["ssl"] == "https://hotspot.cafe.example:4990/"
    assert json_base(signed.state) == "https://hotspot.cafe.example:4990/json/"
    for bad in ("http://10.1.0.1:4990/", "https://h.example/x", "https://u:p@h.example/", "https://h:99999/",
                "https://h.example/?q", "javascript:alert(1)"):
        parsed = parse_uam_query({**dict(ITEMS), "ssl": bad})
        assert "ssl" not in parsed.state, bad
        assert json_base(parsed.state) == "http://10.1.0.1:3990/json/"
