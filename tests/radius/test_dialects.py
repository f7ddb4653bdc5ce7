"""radius.dialects: a Grant rendered per vendor, decoded back with pyrad and our dictionary."""

from __future__ import annotations

import pytest
from pyrad.packet import AuthPacket

from portal.aaa.acs import AcRecord
from portal.aaa.grants import Grant
from portal.errors import ValidationError
from radius import wire
from radius.dialects import render, wispr_time
from radius.dictionary import load_dictionary

GRANT = Grant(plan_name="basic", session_timeout=3600, idle_timeout=600, interim_interval=300,
              up_kbps=2000, down_kbps=8000, terminate_at=1_800_000_000.0, class_=b"cw1|x")


def decoded(dialect: str, grant: Grant = GRANT) -> AuthPacket:
    """Encode the rendered attributes into a real reply and decode it with pyrad."""
    secret = b"secret"
    raw = wire.encode_reply(2, 1, bytes(16), secret, render(grant, dialect))
    return AuthPacket(packet=raw, secret=secret, dict=load_dictionary())


def test_standard_attributes_in_every_dialect() -> None:
    for dialect in ("huawei", "h3c", "wispr", "chillispot", "mikrotik", "zte"):
        pkt = decoded(dialect)
        assert pkt["Session-Timeout"] == [3600]
        assert pkt["Idle-Timeout"] == [600]
        assert pkt["Acct-Interim-Interval"] == [300]
        assert pkt["Class"] == [b"cw1|x"]


def test_huawei_bits_per_second_input_is_upload() -> None:
    pkt = decoded("huawei")
    assert pkt["Huawei-Input-Average-Rate"] == [2_000_000]
    assert pkt["Huawei-Input-Peak-Rate"] == [2_000_000]
    assert pkt["Huawei-Output-Average-Rate"] == [8_000_000]
    assert pkt["Huawei-Output-Peak-Rate"] == [8_000_000]


def test_h3c_numbering_differs_from_huawei() -> None:
    pkt = decoded("h3c")
    assert pkt["H3C-Input-Average-Rate"] == [2_000_000]
    assert pkt["H3C-Input-Peak-Rate"] == [2_000_000]
    assert pkt["H3C-Output-Average-Rate"] == [8_000_000]
    raw_codes = {k for k in pkt.keys() if isinstance(k, str) and k.startswith("H3C")}  # noqa: SIM118 (pyrad keys() gives names)
    assert raw_codes == {"H3C-Input-Average-Rate", "H3C-Input-Peak-Rate",
                         "H3C-Output-Average-Rate", "H3C-Output-Peak-Rate"}


def test_wispr_rates_and_terminate_time() -> None:
    pkt = decoded("wispr")
    assert pkt["WISPr-Bandwidth-Max-Up"] == [2_000_000]
    assert pkt["WISPr-Bandwidth-Max-Down"] == [8_000_000]
    assert pkt["WISPr-Session-Terminate-Time"] == ["2027-01-15T16:00:00+08:00"]
    assert wispr_time(0) == "1970-01-01T08:00:00+08:00"


def test_chillispot_kbits_mikrotik_string_zte_bits() -> None:
    pkt = decoded("chillispot")
    assert pkt["ChilliSpot-Bandwidth-Max-Up"] == [2000]
    assert pkt["ChilliSpot-Bandwidth-Max-Down"] == [8000]
    assert decoded("mikrotik")["Mikrotik-Rate-Limit"] == ["2000k/8000k"]
    zte = decoded("zte")
    assert zte["ZTE-Rate-Ctrl-SCR-Up"] == [2_000_000]
    assert zte["ZTE-Rate-Ctrl-SCR-Down"] == [8_000_000]


def test_unlimited_grant_sends_no_rate_or_timeout() -> None:
    free = Grant(plan_name="free", session_timeout=None, idle_timeout=None, interim_interval=600,
                 up_kbps=None, down_kbps=None, terminate_at=None, class_=b"")
    for dialect in ("huawei", "h3c", "wispr", "chillispot", "mikrotik", "zte"):
        assert render(free, dialect) == ((85, (600).to_bytes(4, "big")),)
    half = Grant(plan_name="h", session_timeout=None, idle_timeout=None, interim_interval=600,
                 up_kbps=None, down_kbps=512, terminate_at=None, class_=b"")
    assert decoded("mikrotik", half)["Mikrotik-Rate-Limit"] == ["0k/512k"]


def test_huge_rate_is_clamped_not_wrapped() -> None:
    big = Grant(plan_name="b", session_timeout=None, idle_timeout=None, interim_interval=600,
                up_kbps=10_000_000, down_kbps=None, terminate_at=None, class_=b"")
    assert decoded("huawei", big)["Huawei-Input-Average-Rate"] == [0xFFFFFFFF]


def test_dialect_derived_from_vendor_and_validated() -> None:
    def ac(**kw: object) -> AcRecord:
        return AcRecord(name="a", addresses=("10.0.0.1",), secret="s", **kw)  # type: ignore[arg-type]

    assert ac(vendor="huawei-v1").effective_radius_dialect == "huawei"
    assert ac(vendor="h3c").effective_radius_dialect == "h3c"
    assert ac(vendor="ruijie").effective_radius_dialect == "ruijie"
    assert ac(vendor="cmcc").effective_radius_dialect == "wispr"
    assert ac(vendor="h3c", radius_dialect="mikrotik").effective_radius_dialect == "mikrotik"
    assert ac(radius_dialect="aruba").effective_radius_dialect == "aruba"
    with pytest.raises(ValidationError):
        ac(radius_dialect="nokia")
    with pytest.raises(ValueError):
        render(GRANT, "nokia")
