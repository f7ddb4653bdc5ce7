"""openNDS FAS level 1: the fas query, hid → rhid, the grant URL and the signed limits.

The query below is shaped like openNDS 9.10's (Debian 12 package) redirect as captured on a real
gateway: ``, ``-separated items, URL-encoded values, a trailing ``(null)`` junk item."""

from __future__ import annotations

import base64
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from ac_adapters.errors import RedirectError
from ac_adapters.gateways import GatewayLimits, adapter_for
from ac_adapters.gateways.opennds import (
    OPENNDS,
    decode_fas,
    faskey_ok,
    grant_url,
    parse_fas_query,
    rhid,
    signed_limits,
    verify_limits,
)

HID = "64eab0705394501ced0ff991bf69077fd3846c1d964e3db28d9600891715d848"   # sha256hex("0123abcd")
FASKEY = "s3cr3tkey123"
RHID = "e5b1f6522786b2ce76b1cf01f237aadca44fdf29f1944c196aa387c331a0ccb5"  # sha256sum of HID+FASKEY


def fas(**over: str) -> str:
    items = {"hid": HID, "clientip": "192.168.77.10", "clientmac": "6a:1f:0e:9c:22:41",
             "client_type": "cpd_can", "gatewayname": "cafe-gw%201",
             "gatewayurl": "http%3a%2f%2f192.168.77.1%3a2050", "version": "9.10.0",
             "gatewayaddress": "192.168.77.1:2050", "gatewaymac": "aa0011223344",
             "originurl": "http%3a%2f%2f10.77.0.3%2fnews%3fa%3d1", "clientif": "lan0",
             "themespec": "(null)"}
    items.update(over)
    text = ", ".join(f"{k}={v}" for k, v in items.items()) + ", (null)(null)(null)(null)"
    return base64.b64encode(text.encode()).decode()


def test_rhid_known_answer() -> None:
    assert rhid(HID, FASKEY) == RHID


def test_rhid_matches_shell_sha256sum() -> None:
    out = subprocess.run(["sha256sum"], input=(HID + "otherkey99").encode(), capture_output=True,
                         check=True).stdout.decode().split()[0]
    assert rhid(HID, "otherkey99") == out


def test_parse_fas_level1() -> None:
    r = parse_fas_query({"fas": fas()})
    assert (r.gateway_name, r.user_ip, r.user_mac) == ("cafe-gw 1", "192.168.77.10", "6a:1f:0e:9c:22:41")
    assert r.original_url == "http://10.77.0.3/news?a=1"
    assert dict(r.state) == {"hid": HID, "gatewayaddress": "192.168.77.1:2050", "authdir": "opennds_auth"}
    assert not r.vouched


def test_decode_skips_junk_and_tolerates_missing_padding() -> None:
    items = decode_fas(fas().rstrip("="))
    assert items["hid"] == HID and "(null)(null)(null)(null)" not in items


@pytest.mark.parametrize("query, code", [
    ({"fas": "!!!notbase64"}, "bad_redirect"),
    ({"fas": ""}, "bad_redirect"),
    ({"fas": "A" * 5000}, "bad_redirect"),
    ({"fas": fas(hid="12ab")}, "bad_redirect"),
    ({"fas": fas(clientip="999.1.1.1")}, "bad_user_ip"),
    ({"fas": fas(clientmac="nope")}, "bad_mac"),
    ({"fas": fas(gatewayname="")}, "unknown_ac"),
    ({"fas": fas(gatewayaddress="evil.example:80")}, "bad_redirect"),
    ({"fas": fas(gatewayaddress="192.168.77.1")}, "bad_redirect"),
    ({"fas": fas(authdir="../x")}, "bad_redirect"),
    ({"fas": fas(), "iv": "0123456789abcdef"}, "bad_redirect"),
])
def test_hostile_queries_raise_redirect_errors(query: dict[str, str], code: str) -> None:
    with pytest.raises(RedirectError) as info:
        parse_fas_query(query)
    assert getattr(info.value, "code", "") == code


def test_grant_url_has_tok_redir_and_signed_custom() -> None:
    state = parse_fas_query({"fas": fas()}).state
    limits = GatewayLimits(session_seconds=1800, up_kbps=512, down_kbps=2048, down_kbytes=500)
    url = grant_url(state, FASKEY, limits, "http://portal.example/portal/status?s=x&y=1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "192.168.77.1:2050", "/opennds_auth/")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["tok"] == RHID
    assert q["redir"] == "http://portal.example/portal/status?s=x&y=1"
    assert verify_limits(q["custom"], HID, FASKEY) == (1800, 512, 2048, 0, 500)


def test_grant_url_never_without_tok() -> None:
    with pytest.raises(ValueError):
        grant_url({"hid": "", "gatewayaddress": "192.168.77.1:2050"}, FASKEY, GatewayLimits(), "/")
    with pytest.raises(ValueError):
        grant_url({"hid": HID, "gatewayaddress": "192.168.77.1:2050"}, "", GatewayLimits(), "/")


def test_signed_limits_refuse_tampering_other_client_and_other_key() -> None:
    custom = signed_limits(GatewayLimits(session_seconds=600, down_kbytes=100), HID, FASKEY)
    assert verify_limits(custom, HID, FASKEY) == (600, 0, 0, 0, 100)
    assert verify_limits(custom.replace(".600.", ".0.", 1), HID, FASKEY) is None
    assert verify_limits(custom, "0" * 64, FASKEY) is None
    assert verify_limits(custom, HID, "anotherkey1") is None
    assert verify_limits("cw1.0.0.0.0.0.deadbeef", HID, FASKEY) is None


def test_zero_or_tiny_limits_never_mean_unlimited() -> None:
    # openNDS reads 0 as "no limit": a remaining quota of a fraction of a kB must stay a limit.
    custom = signed_limits(GatewayLimits(session_seconds=0, down_kbytes=0), HID, FASKEY)
    assert verify_limits(custom, HID, FASKEY) == (1, 0, 0, 0, 1)


def test_faskey_rules_and_adapter_registry() -> None:
    assert faskey_ok("s3cr3tkey123") and not faskey_ok("short") and not faskey_ok("has space 123")
    assert adapter_for("opennds") is OPENNDS and adapter_for("portal") is None
    assert OPENNDS.grant_mode == "redirect" and not OPENNDS.can_logout


def test_a_plus_the_query_parser_turned_into_a_space_still_decodes() -> None:
    """openNDS writes the base64 into its redirect unescaped: a '+' arrives as ' ' after any
    form decoding (Flask's request.args). In ASCII text a '~' or '>' in the third byte of a
    group makes one; without the repair such a page could not log in."""
    for n in range(3):
        value = fas(originurl="http%3a%2f%2fexample.com%2f" + "a" * n + "~~~")
        if "+" in value:
            break
    assert "+" in value
    arrived = parse_qs("fas=" + value)["fas"][0]
    assert " " in arrived
    assert parse_fas_query({"fas": arrived}).original_url.startswith("http://example.com/")
