"""Loading the RADIUS dictionary: the small FreeRADIUS-format set shipped in ``dictionaries/``.

pyrad cannot load Debian's full FreeRADIUS dictionary (docs/protocols/radius.md §1.3), and we need only
the RFC attributes plus the rate-limit vendors, so we ship our own files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pyrad.dictionary import Dictionary

__all__ = ["DICTIONARY_DIR", "KnownAttributes", "known_attributes", "load_dictionary"]

DICTIONARY_DIR = Path(__file__).with_name("dictionaries")


@functools.lru_cache(maxsize=4)
def load_dictionary(directory: str = "") -> Dictionary:
    """The pyrad Dictionary from ``directory``/dictionary (default: the shipped one); cached."""
    root = Path(directory) if directory else DICTIONARY_DIR
    return Dictionary(str(root / "dictionary"))


@dataclass(frozen=True, slots=True)
class KnownAttributes:
    """Codes the dictionary defines, for the server's cheap "unknown attribute" check."""

    standard: frozenset[int]
    vendors: frozenset[int]
    vendor_attrs: frozenset[tuple[int, int]]


@functools.lru_cache(maxsize=4)
def known_attributes(directory: str = "") -> KnownAttributes:
    d = load_dictionary(directory)
    standard: set[int] = set()
    vendor_attrs: set[tuple[int, int]] = set()
    for attr in d.attributes.values():
        if attr.vendor:
            vendor_attrs.add((d.vendors.GetForward(attr.vendor), attr.code))
        elif isinstance(attr.code, int):
            standard.add(attr.code)
    vendors = frozenset(v for name, v in d.vendors.forward.items() if name)
    return KnownAttributes(frozenset(standard), vendors, frozenset(vendor_attrs))
