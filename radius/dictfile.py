"""Reading FreeRADIUS-format dictionary files for the facts the server checks packets against.

pyrad cannot load Debian's full FreeRADIUS dictionary (one file spells a type ``String``, and it
refuses RFC 6929 extended attributes, EVS and vendors with other formats), but the server needs
no decoder from it: only which attribute numbers exist. This reader takes the ``ATTRIBUTE``,
``VENDOR`` and ``BEGIN-VENDOR``/``END-VENDOR`` lines, follows ``$INCLUDE`` (and the optional
``$INCLUDE-``) relative to the including file, and ignores everything else (``VALUE``, TLV
blocks, flags), so any FreeRADIUS 3.x dictionary set loads.

Pure apart from reading the files; no RADIUS packets here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from radius.errors import RadiusError

__all__ = ["EXTENDED_TYPES", "DictionaryError", "DictionaryFacts", "read_dictionary"]

# RFC 6929 §2: types whose first value octet is the "Extended-Type" (241-244 extended,
# 245-246 long extended). An attribute "241.1" is sub-type 1 of type 241.
EXTENDED_TYPES = frozenset(range(241, 247))
_MAX_DEPTH = 32            # $INCLUDE nesting; deeper means a loop or a broken set


class DictionaryError(RadiusError):
    """A dictionary file is missing, unreadable or has a line that cannot be read."""

    code = "dictionary_error"


@dataclass
class DictionaryFacts:
    """What a dictionary set defines, by number (names only for logs)."""

    standard: dict[int, str] = field(default_factory=dict)            # type 1-255 → name
    extended: dict[tuple[int, int], str] = field(default_factory=dict)  # (241-246, sub-type) → name
    vendors: dict[int, str] = field(default_factory=dict)             # vendor id → name
    simple_vendors: set[int] = field(default_factory=set)             # RFC 2865 §5.26 format (1,1)
    vendor_attrs: dict[tuple[int, int], str] = field(default_factory=dict)  # (vendor, type) → name
    files: list[str] = field(default_factory=list)

    def merge(self, other: DictionaryFacts) -> None:
        """Add ``other``'s definitions (ours win on a clash: names are informative only)."""
        self.standard = {**other.standard, **self.standard}
        self.extended = {**other.extended, **self.extended}
        self.vendors = {**other.vendors, **self.vendors}
        self.vendor_attrs = {**other.vendor_attrs, **self.vendor_attrs}
        self.simple_vendors |= other.simple_vendors
        self.files += other.files


def _number(text: str, where: str) -> int:
    try:
        return int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise DictionaryError(f"{where}: {text!r} is not a number") from None


class _Reader:
    def __init__(self) -> None:
        self.facts = DictionaryFacts()
        self.vendor_ids: dict[str, int] = {}
        self.seen: set[Path] = set()

    def read(self, path: Path, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise DictionaryError(f"{path}: $INCLUDE nested more than {_MAX_DEPTH} deep")
        resolved = path.resolve()
        if resolved in self.seen:   # FreeRADIUS sets include some files twice; once is enough
            return
        self.seen.add(resolved)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DictionaryError(f"cannot read dictionary {path}: {exc.strerror or exc}") from None
        self.facts.files.append(str(path))
        vendor: int | None = None     # inside BEGIN-VENDOR … END-VENDOR
        for lineno, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            where = f"{path.name}:{lineno}"
            keyword = words[0]
            if keyword in ("$INCLUDE", "$INCLUDE-") and len(words) >= 2:
                target = path.parent / words[1]
                if keyword == "$INCLUDE-" and not target.exists():
                    continue
                self.read(target, depth + 1)
            elif keyword == "VENDOR" and len(words) >= 3:
                number = _number(words[2], where)
                self.vendor_ids[words[1]] = number
                self.facts.vendors[number] = words[1]
                fmt = next((w.removeprefix("format=") for w in words[3:] if w.startswith("format=")), "1,1")
                if fmt == "1,1":
                    self.facts.simple_vendors.add(number)
            elif keyword == "BEGIN-VENDOR" and len(words) >= 2:
                if words[1] not in self.vendor_ids:
                    raise DictionaryError(f"{where}: BEGIN-VENDOR {words[1]} before its VENDOR line")
                vendor = self.vendor_ids[words[1]]
            elif keyword == "END-VENDOR":
                vendor = None
            elif keyword == "ATTRIBUTE" and len(words) >= 4:
                self._attribute(words, vendor, where)

    def _attribute(self, words: list[str], vendor: int | None, where: str) -> None:
        name, number = words[1], words[2]
        # FreeRADIUS 1.x style: the vendor's name as the fourth word.
        if vendor is None and len(words) >= 5 and words[4] in self.vendor_ids:
            vendor = self.vendor_ids[words[4]]
        parts = [_number(p, where) for p in number.split(".")]
        if vendor is not None:
            self.facts.vendor_attrs[(vendor, parts[0])] = name
            return
        top = parts[0]
        if not 1 <= top <= 255:
            return   # server-internal attributes (dictionary.freeradius.internal): never on the wire
        # A later definition wins, as in FreeRADIUS: its set includes pre-standard names first
        # (dictionary.compat, *.illegal) and the RFC files after them.
        if len(parts) == 1:
            self.facts.standard[top] = name
        elif top in EXTENDED_TYPES and len(parts) == 2:
            self.facts.extended[(top, parts[1])] = name
        # deeper numbers are TLV members inside an attribute defined on its own line


def read_dictionary(path: str | Path) -> DictionaryFacts:
    """The facts of a FreeRADIUS-format dictionary file and everything it includes.
    Raises DictionaryError naming the file (and line) that could not be read."""
    reader = _Reader()
    reader.read(Path(path))
    return reader.facts
