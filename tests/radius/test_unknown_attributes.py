"""Standard attributes FreeRADIUS knows are known here too, and an attribute our
dictionary lacks never costs a well-formed, authenticated packet its answer — auth or
accounting — against Debian's radclient."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from portal.aaa.credentials import CredentialStore
from portal.runtime.metrics_http import RADIUS_RULES, CounterFamilies, registry_of
from radius import dictionary
from radius.dictfile import read_dictionary
from radius.dictgen import render_standard
from radius.dictionary import DICTIONARY_DIR, SYSTEM_DICTIONARY, known_attributes, unknown_attributes
from tests.radius.serverkit import (
    HAVE_RADCLIENT,
    MAC,
    PHONE,
    RunningServer,
    radclient,
    register,
    running_server,
)


def needs_radclient(fn: Any) -> Any:
    return pytest.mark.needs_radclient(
        pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient not installed")(fn))
HAVE_SYSTEM_DICTIONARY = SYSTEM_DICTIONARY.exists()

# RFC 5580 Operator-Name / Location-Capable, RFC 7268 WLAN-Pairwise-Cipher, as an AC sends them.
NEW_STANDARD = ('Operator-Name = "1cmcc", Location-Capable = Civic-Location, '
                'WLAN-Pairwise-Cipher = 1027076, WLAN-AKM-Suite = 1027073')
# Not defined by any FreeRADIUS dictionary: type 21 is unassigned, vendor 99999 unknown.
UNDEFINED = "Attr-21 = 0x0102, Attr-26.99999.1 = 0x01"


def metric_samples(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's counters as /metrics renders them (family name, labels) → value."""
    text = generate_latest(registry_of(CounterFamilies("radius", RADIUS_RULES,
                                                       server.metrics.snapshot))).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


@pytest.fixture
def server(redis_client: Any, redis_url: str) -> Iterator[RunningServer]:
    register(redis_client)
    with running_server(redis_url) as srv:
        yield srv


@pytest.mark.skipif(not HAVE_SYSTEM_DICTIONARY, reason="FreeRADIUS dictionaries not installed")
def test_shipped_standard_list_is_freeradius_standard_space() -> None:
    """The file used where FreeRADIUS is not installed holds exactly the standard attributes and
    vendor numbers of the system set (regenerate with `python -m radius.dictgen` if not)."""
    system = read_dictionary(SYSTEM_DICTIONARY)
    shipped = read_dictionary(DICTIONARY_DIR / "dictionary.standard")
    assert shipped.standard == system.standard
    assert shipped.extended == system.extended
    assert shipped.vendors == system.vendors
    assert render_standard(SYSTEM_DICTIONARY) == (DICTIONARY_DIR / "dictionary.standard").read_text()


def test_known_attributes_cover_rfc5580_and_rfc7268_with_or_without_freeradius(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for system in (SYSTEM_DICTIONARY, tmp_path / "absent" / "dictionary"):
        monkeypatch.setattr(dictionary, "SYSTEM_DICTIONARY", system)
        known_attributes.cache_clear()
        try:
            known = known_attributes()
        finally:
            known_attributes.cache_clear()
        if not system.exists():
            assert known.source.endswith("dictionary.standard")
        for code in (126, 127, 128, 129, 130, 131, 186, 187, 188, 189, 190):
            assert code in known.standard, code
        assert (241, 1) in known.extended and 2011 in known.vendors and 25506 in known.vendors
        # unknown_attributes: the labels it gives, packet order, no repeats
        attrs = ((1, b"x"), (126, b"op"), (21, b"a"), (21, b"b"), (26, b"\0\x01\x86\x9f\x01\x03a"),
                 (26, bytes.fromhex("000007db") + bytes((250, 3)) + b"a"), (241, b"\x63a"))
        assert unknown_attributes(attrs, known) == ["21", "26:99999", "26:2011:250", "241:99"]


def test_a_broken_system_dictionary_falls_back_to_the_shipped_list(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "dictionary"
    broken.write_text("$INCLUDE dictionary.missing\n")
    monkeypatch.setattr(dictionary, "SYSTEM_DICTIONARY", broken)
    known_attributes.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="radius.dictionary"):
            known = known_attributes()
    finally:
        known_attributes.cache_clear()
    assert 126 in known.standard and known.source.endswith("dictionary.standard")
    assert "dictionary.missing" in caplog.text


@needs_radclient
def test_radclient_auth_and_accounting_with_rfc5580_rfc7268_attributes_get_replies(
        server: RunningServer, redis_client: Any) -> None:
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    out = radclient(server.auth_port, "auth",
                    f'User-Name="{PHONE}", User-Password="{cred.password}", Calling-Station-Id="{MAC}", '
                    f"{NEW_STANDARD}, Message-Authenticator=0x00")
    assert "Received Access-Accept" in out, out
    acct = radclient(server.acct_port, "acct",
                     f'User-Name="{PHONE}", Acct-Session-Id="s-op", Acct-Status-Type=Start, '
                     f'Calling-Station-Id="{MAC}", {NEW_STANDARD}')
    assert "Received Accounting-Response" in acct, acct
    assert server.metrics.total("unknown_attr.") == 0       # all of them are in the dictionary
    assert server.metrics.total("drop.") == 0


@needs_radclient
def test_undefined_attributes_are_answered_counted_per_ac_and_logged_once(
        server: RunningServer, redis_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    auth = (f'User-Name="{PHONE}", User-Password="{cred.password}", Calling-Station-Id="{MAC}", '
            f"{UNDEFINED}, Message-Authenticator=0x00")
    with caplog.at_level(logging.INFO, logger="radius.drops"):
        for _i in range(2):
            assert "Received Access-Accept" in radclient(server.auth_port, "auth", auth)
        acct = radclient(server.acct_port, "acct",
                         f'User-Name="{PHONE}", Acct-Session-Id="s-x", Acct-Status-Type=Start, {UNDEFINED}')
        assert "Received Accounting-Response" in acct, acct
    assert server.metrics.get("unknown_attr.21.ac1") == 3
    assert server.metrics.get("unknown_attr.26:99999.ac1") == 3
    samples = metric_samples(server)
    assert samples[("citywifi_radius_unknown_attributes_total",
                    (("ac", "ac1"), ("attribute", "21")))] == 3
    notes = [r for r in caplog.records if "does not define" in r.getMessage()]
    assert len(notes) == 2 and all(r.levelno == logging.INFO for r in notes)   # once per attribute
    assert "AC ac1" in notes[0].getMessage() and "attribute 21" in notes[0].getMessage()


@needs_radclient
def test_strict_mode_drops_them_and_says_so(redis_client: Any, redis_url: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    register(redis_client)
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    with running_server(redis_url, drop_unknown_attributes=True) as srv, \
            caplog.at_level(logging.INFO, logger="radius.drops"):
        out = radclient(srv.auth_port, "auth",
                        f'User-Name="{PHONE}", User-Password="{cred.password}", {UNDEFINED}, '
                        "Message-Authenticator=0x00", timeout=0.5)
        assert "Received" not in out
        # …but a known RFC 5580 attribute is no reason to drop even in strict mode
        out = radclient(srv.auth_port, "auth",
                        f'User-Name="{PHONE}", User-Password="{cred.password}", Calling-Station-Id="{MAC}", '
                        f"{NEW_STANDARD}, Message-Authenticator=0x00")
        assert "Received Access-Accept" in out
        assert srv.metrics.get("ac_drop.unknown_attribute.ac1") == 1
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("AC ac1: Access-Request dropped (attribute not in the RADIUS dictionary): 21, 26:99999"
               in r.getMessage() for r in warned)


def test_unknown_attribute_labels_never_raise_and_stay_metric_safe() -> None:
    """Hostile but authenticated values (an AC with a bug): a label, never an exception; no "."
    in a label (the counter name splits on it), and a bounded set of shapes."""
    import random
    import re

    known = known_attributes()
    rng = random.Random(15)
    shape = re.compile(r"^\d+(:\d+|:\?)?(:\d+|:\?)?$")
    for _ in range(3000):
        attrs = tuple((rng.choice((21, 26, 26, 241, 245, 250, 1)), rng.randbytes(rng.randint(0, 12)))
                      for _ in range(rng.randint(1, 4)))
        for label in unknown_attributes(attrs, known):
            assert "." not in label and shape.match(label), label
