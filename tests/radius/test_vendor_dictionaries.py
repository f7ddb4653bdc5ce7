"""The vendor facts in ``ac_adapters.radius_dialects`` and ``radius/dictionaries`` agree with an
independent reference: Debian's FreeRADIUS dictionaries (``/usr/share/freeradius``, package
freeradius-common). Replies of every dialect are decoded by pyrad with those dictionaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyrad.dictionary import Dictionary
from pyrad.packet import AuthPacket

from ac_adapters.profiles import PROFILES
from ac_adapters.radius_dialects import DIALECTS, IDENTIFIERS, RadiusDialect, RateFormat
from portal.aaa.grants import Grant
from radius import wire
from radius.dialects import render
from radius.dictionary import DICTIONARY_DIR, load_dictionary

FREERADIUS = Path("/usr/share/freeradius")
pytestmark = pytest.mark.skipif(not (FREERADIUS / "dictionary.rfc2865").is_file(),
                                reason="Debian's freeradius-common is not installed")

# Our vendor file → Debian's file of the same vendor (Ruijie: Debian has none).
VENDOR_FILES = ("huawei", "h3c", "zte", "wispr", "chillispot", "mikrotik", "cisco", "airespace",
                "aruba", "ruckus")
GRANT = Grant(plan_name="basic", session_timeout=3600, idle_timeout=600, interim_interval=300,
              up_kbps=2000, down_kbps=8000, terminate_at=1_800_000_000.0, class_=b"cw1|x")

_ATTR = re.compile(r"^ATTRIBUTE\s+(\S+)\s+(\d+)\s+(\w+)")
_VENDOR = re.compile(r"^VENDOR\s+(\S+)\s+(\d+)")


def _read(path: Path) -> tuple[dict[str, int], dict[str, tuple[int, int, str]]]:
    """A plain reading of a FreeRADIUS dictionary file (no pyrad): vendors, and attribute name →
    (vendor number or 0, attribute number, type)."""
    vendors: dict[str, int] = {}
    attrs: dict[str, tuple[int, int, str]] = {}
    current = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if m := _VENDOR.match(line):
            vendors[m[1]] = int(m[2])
        elif line.startswith("BEGIN-VENDOR"):
            current = vendors[line.split()[1]]
        elif line.startswith("END-VENDOR"):
            current = 0
        elif m := _ATTR.match(line):
            attrs[m[1]] = (current, int(m[2]), m[3].lower())
    return vendors, attrs


def _debian() -> Dictionary:
    names = ("rfc2865", "rfc2866", "rfc2869", "rfc3576", *VENDOR_FILES)
    return Dictionary(*(str(FREERADIUS / f"dictionary.{n}") for n in names))


@pytest.mark.parametrize("vendor_file", VENDOR_FILES)
def test_our_vendor_files_agree_with_debian(vendor_file: str) -> None:
    our_vendors, ours = _read(DICTIONARY_DIR / f"dictionary.{vendor_file}")
    their_vendors, theirs = _read(FREERADIUS / f"dictionary.{vendor_file}")
    assert our_vendors.items() <= their_vendors.items()
    assert ours, vendor_file
    for name, (vendor, number, atype) in ours.items():
        assert name in theirs, f"{name} is not in Debian's dictionary.{vendor_file}"
        assert theirs[name][:2] == (vendor, number), name
        assert theirs[name][2] == atype, name


def test_ruijie_declares_the_vendor_and_claims_no_attribute() -> None:
    """No public Ruijie attribute list exists, and Debian has no Ruijie dictionary: ours must
    not invent one."""
    assert not (FREERADIUS / "dictionary.ruijie").exists()
    vendors, attrs = _read(DICTIONARY_DIR / "dictionary.ruijie")
    assert vendors == {"Ruijie": 4881} and attrs == {}
    assert load_dictionary().vendors.GetForward("Ruijie") == 4881


@pytest.mark.parametrize("dialect", list(DIALECTS.values()), ids=lambda d: d.name)
def test_every_dialect_attribute_has_debians_name_and_number(dialect: RadiusDialect) -> None:
    ours, debian = load_dictionary(), _debian()
    for attr in dialect.attributes:
        for d in (ours, debian):
            entry = d.attributes[attr.name]
            assert (d.vendors.GetForward(entry.vendor), entry.code) == (attr.vendor, attr.number)
    for name, number in IDENTIFIERS.items():
        assert debian.attributes[name].code == number and not debian.attributes[name].vendor
    assert set(dialect.disconnect_ids) <= set(IDENTIFIERS)
    assert "Acct-Session-Id" in dialect.disconnect_ids or "Calling-Station-Id" in dialect.disconnect_ids


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_reply_decodes_by_name_with_debians_dictionaries(dialect: str) -> None:
    raw = wire.encode_reply(2, 1, bytes(16), b"secret", render(GRANT, dialect))
    pkt = AuthPacket(packet=raw, secret=b"secret", dict=_debian())
    names = set(pkt.keys())
    assert all(isinstance(n, str) for n in names), names      # nothing left undecoded
    assert pkt["Session-Timeout"] == [3600] and pkt["Idle-Timeout"] == [600]
    assert pkt["Acct-Interim-Interval"] == [300] and pkt["Class"] == [b"cw1|x"]
    spec = DIALECTS[dialect]
    if spec.rate_format in (RateFormat.BPS, RateFormat.KBPS):
        scale = 1000 if spec.rate_format is RateFormat.BPS else 1
        for attr in spec.up:
            assert pkt[attr.name] == [2000 * scale], attr
        for attr in spec.down:
            assert pkt[attr.name] == [8000 * scale], attr


def test_new_vendor_replies_in_their_units() -> None:
    def decoded(dialect: str) -> AuthPacket:
        raw = wire.encode_reply(2, 1, bytes(16), b"secret", render(GRANT, dialect))
        return AuthPacket(packet=raw, secret=b"secret", dict=_debian())

    cisco = decoded("cisco")    # Airespace contracts in kbit/s; 7/9 downstream, 13/15 upstream
    assert cisco["Airespace-Data-Bandwidth-Average-Contract"] == [8000]
    assert cisco["Airespace-Data-Bandwidth-Burst-Contract"] == [8000]
    assert cisco["Airespace-Data-Bandwidth-Average-Contract-Upstream"] == [2000]
    assert cisco["Airespace-Data-Bandwidth-Burst-Contract-Upstream"] == [2000]
    aruba = decoded("aruba")    # no rate attribute: the role named like the plan
    assert aruba["Aruba-User-Role"] == ["basic"]
    assert not any(n.startswith("WISPr") for n in aruba.keys())  # noqa: SIM118 (pyrad keys() gives names)
    for name in ("ruckus", "ruijie"):
        pkt = decoded(name)
        assert pkt["WISPr-Bandwidth-Max-Up"] == [2_000_000]
        assert pkt["WISPr-Bandwidth-Max-Down"] == [8_000_000]
        assert "WISPr-Session-Terminate-Time" not in pkt
    assert decoded("wispr")["WISPr-Session-Terminate-Time"] == ["2027-01-15T16:00:00+08:00"]


def test_the_role_follows_the_plan_not_a_cache() -> None:
    gold = Grant(plan_name="gold", session_timeout=3600, idle_timeout=600, interim_interval=300,
                 up_kbps=2000, down_kbps=8000, terminate_at=None, class_=b"")
    assert render(GRANT, "aruba") != render(gold, "aruba")
    assert (26, (14823).to_bytes(4, "big") + b"\x01\x06gold") in render(gold, "aruba")


def test_every_profile_names_a_known_dialect() -> None:
    assert {p.radius_dialect for p in PROFILES.values()} <= set(DIALECTS)
    assert PROFILES["huawei-v2"].radius_dialect == "huawei"
    assert PROFILES["h3c"].radius_dialect == "h3c"
    assert PROFILES["ruijie"].radius_dialect == "ruijie"
