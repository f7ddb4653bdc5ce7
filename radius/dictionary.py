"""The RADIUS dictionaries: what the server checks packets against, and pyrad's for tests.

Two uses:

* :func:`known_attributes` — the attribute and vendor numbers that exist, for the server's
  "unknown attribute" accounting. Read with our own reader (``radius.dictfile``) from the
  system's FreeRADIUS dictionary (``/usr/share/freeradius/dictionary``) when it is installed,
  else from the shipped ``dictionaries/dictionary.standard`` (every standard attribute and
  vendor number of that same set), plus the shipped vendor files either way. So every attribute
  FreeRADIUS knows — Operator-Name, Location-Capable (RFC 5580), WLAN-Pairwise-Cipher
  (RFC 7268), … — is known here too.
* :func:`load_dictionary` — a pyrad ``Dictionary`` of the small shipped set (RFC attributes plus
  the rate-limit vendors), for tests and the AC simulator; pyrad cannot load the full FreeRADIUS
  set (one file spells a type ``String``; RFC 6929 types are refused).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from pyrad.dictionary import Dictionary

from radius.dictfile import EXTENDED_TYPES, DictionaryError, DictionaryFacts, read_dictionary

__all__ = [
    "DICTIONARY_DIR",
    "SYSTEM_DICTIONARY",
    "KnownAttributes",
    "known_attributes",
    "load_dictionary",
    "unknown_attributes",
]

log = logging.getLogger(__name__)

DICTIONARY_DIR = Path(__file__).with_name("dictionaries")
SYSTEM_DICTIONARY = Path("/usr/share/freeradius/dictionary")   # Debian/Ubuntu freeradius-common


@functools.lru_cache(maxsize=4)
def load_dictionary(directory: str = "") -> Dictionary:
    """The pyrad Dictionary from ``directory``/dictionary (default: the shipped one); cached."""
    root = Path(directory) if directory else DICTIONARY_DIR
    return Dictionary(str(root / "dictionary"))


@dataclass(frozen=True, slots=True)
class KnownAttributes:
    """Numbers the dictionary defines, shaped for a cheap check per packet.

    ``plain`` holds the standard types that need no look inside their value: the server's
    common case is one C-level subset test of a packet's types against it. Vendor-Specific (26)
    and the RFC 6929 extended types (241-246) are left out of ``plain`` on purpose, so a packet
    carrying them takes :func:`unknown_attributes`, which looks at vendor and sub-type.
    """

    plain: frozenset[int]
    standard: frozenset[int]
    extended: frozenset[tuple[int, int]]
    vendors: frozenset[int]
    simple_vendors: frozenset[int]          # vendors whose VSAs use the RFC 2865 §5.26 layout
    vendor_attrs: frozenset[tuple[int, int]]
    # The first 5 octets (vendor id, type) of every single-sub-attribute VSA of a simple-format
    # vendor we know: the per-VSA check is one slice and one set lookup.
    vsa_heads: frozenset[bytes] = frozenset()
    source: str = ""                        # where the facts came from (start-up log)

    @classmethod
    def from_facts(cls, facts: DictionaryFacts, source: str = "") -> KnownAttributes:
        standard = frozenset(facts.standard)
        return cls(
            plain=standard - EXTENDED_TYPES - {26},
            standard=standard,
            extended=frozenset(facts.extended),
            vendors=frozenset(facts.vendors),
            simple_vendors=frozenset(facts.simple_vendors),
            vendor_attrs=frozenset(facts.vendor_attrs),
            vsa_heads=frozenset(vendor.to_bytes(4, "big") + bytes((vtype,))
                                for vendor, vtype in facts.vendor_attrs
                                if vendor in facts.simple_vendors and 0 <= vtype <= 255),
            source=source,
        )


@functools.lru_cache(maxsize=4)
def known_attributes(directory: str = "") -> KnownAttributes:
    """The known numbers: ``directory``/dictionary if given (FreeRADIUS format), else the
    system FreeRADIUS dictionary if installed, else the shipped standard list; always plus the
    shipped files (the vendors whose attributes we send). A system dictionary that cannot be
    read is logged and replaced by the shipped list: the server must start anyway."""
    facts = read_dictionary(DICTIONARY_DIR / "dictionary")
    if directory:
        facts.merge(read_dictionary(Path(directory) / "dictionary"))   # configured: errors are fatal
        source = str(Path(directory) / "dictionary")
    else:
        source = str(SYSTEM_DICTIONARY)
        try:
            if not SYSTEM_DICTIONARY.exists():
                raise DictionaryError(f"{SYSTEM_DICTIONARY} is not installed")
            facts.merge(read_dictionary(SYSTEM_DICTIONARY))
        except DictionaryError as exc:
            log.info("RADIUS dictionary: %s; using the shipped standard list", exc)
            facts.merge(read_dictionary(DICTIONARY_DIR / "dictionary.standard"))
            source = str(DICTIONARY_DIR / "dictionary.standard")
    return KnownAttributes.from_facts(facts, source)


def unknown_attributes(attrs: tuple[tuple[int, bytes], ...], known: KnownAttributes) -> list[str]:
    """Labels of the attributes in ``attrs`` the dictionary does not define, in packet order
    and without repeats: ``"250"`` (standard type), ``"241:9"`` (extended sub-type),
    ``"26:12345"`` (vendor), ``"26:2011:250"`` (a known vendor's unknown sub-attribute).
    A VSA not in the RFC 2865 §5.26 layout of a simple-format vendor counts as that vendor's
    ``"26:<vendor>:?"``. Pure; malformed values are labelled, never raised on."""
    out: list[str] = []
    plain, heads = known.plain, known.vsa_heads
    # The usual packet of an AC with VSAs: one known sub-attribute per VSA, so one set lookup
    # each; only the rest takes the closer look of _label.
    for atype, value in [a for a in attrs if a[0] not in plain]:
        if atype == 26 and len(value) > 5 and value[5] + 4 == len(value) and value[:5] in heads:
            continue
        label = _label(atype, value, known)
        if label and label not in out:
            out.append(label)
    return out


def _label(atype: int, value: bytes, known: KnownAttributes) -> str:
    if atype == 26:
        return _vsa_label(value, known)
    if atype in EXTENDED_TYPES:
        if not value:
            return f"{atype}:?"
        if value[0] == 26 and (atype, 26) in known.extended:    # RFC 6929 EVS
            if len(value) < 5:
                return f"{atype}:26:?"
            vendor = int.from_bytes(value[1:5], "big")
            return "" if vendor in known.vendors else f"{atype}:26:{vendor}"
        return "" if (atype, value[0]) in known.extended else f"{atype}:{value[0]}"
    return "" if atype in known.standard else str(atype)


def _vsa_label(value: bytes, known: KnownAttributes) -> str:
    if len(value) < 4:
        return "26:?"
    vendor = int.from_bytes(value[:4], "big")
    if vendor not in known.vendors:
        return f"26:{vendor}"
    if vendor not in known.simple_vendors:
        return ""     # a layout we do not split (USR, Lucent, WiMAX …): the vendor is enough
    pos, n = 4, len(value)
    vendor_attrs = known.vendor_attrs
    while pos < n:
        if pos + 2 > n or value[pos + 1] < 2 or pos + value[pos + 1] > n:
            return f"26:{vendor}:?"
        if (vendor, value[pos]) not in vendor_attrs:
            return f"26:{vendor}:{value[pos]}"
        pos += value[pos + 1]
    return ""
