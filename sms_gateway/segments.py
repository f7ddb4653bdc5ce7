"""The carrier number-segment table: 3–5 digit prefix → carrier and kind (docs/protocols/sms.md §3.1).

The table is data (``sms_gateway/data/segments.toml``, versioned), not code, so an operator can
ship a newer MIIT allocation without a release: ``SegmentTable.load(path)`` reads any file of the
same format. Lookups are longest-prefix-match over at most three dict probes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from sms_gateway import texts
from sms_gateway.errors import SmsError

__all__ = [
    "CARRIER_NAMES",
    "Carrier",
    "Kind",
    "Segment",
    "SegmentTable",
    "SegmentTableError",
    "default_segments",
]


class Carrier(StrEnum):
    TELECOM = "telecom"
    MOBILE = "mobile"
    UNICOM = "unicom"
    BROADNET = "broadnet"
    SATNET = "satnet"
    OTHER = "other"        # MIIT "other units" (satellite segments)
    UNKNOWN = "unknown"    # prefix not in the table


class Kind(StrEnum):
    REGULAR = "regular"
    DATA = "data"          # data-card segments (145/147/149)
    IOT = "iot"
    VIRTUAL = "virtual"    # resale / MVNO on the carrier's network
    SATELLITE = "satellite"


# User-facing carrier names (zh, en), used in refusal messages: sms_gateway/texts.py, keyed by
# the Carrier value (a StrEnum member looks them up as its string); importable from here too.
CARRIER_NAMES = texts.CARRIER_NAMES


class SegmentTableError(SmsError):
    """The segment table file is malformed; the message names the entry."""

    code = "segment_table_invalid"


@dataclass(frozen=True, slots=True)
class Segment:
    prefix: str
    carrier: Carrier
    kind: Kind


_MIN_PREFIX, _MAX_PREFIX = 3, 5


@dataclass(frozen=True, slots=True)
class SegmentTable:
    """An immutable segment table; swap the whole object to update it."""

    version: str
    source: str
    as_of: str
    by_prefix: dict[str, Segment]

    def lookup(self, national: str) -> Segment | None:
        """The segment of an 11-digit national number (longest prefix wins), or None."""
        for length in range(_MAX_PREFIX, _MIN_PREFIX - 1, -1):
            seg = self.by_prefix.get(national[:length])
            if seg is not None:
                return seg
        return None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> SegmentTable:
        """Build from the parsed TOML document; raise SegmentTableError naming the bad entry."""
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise SegmentTableError("segment table: missing `version`")
        by_prefix: dict[str, Segment] = {}
        for name, kinds in data.items():
            if name in ("version", "source", "as_of"):
                continue
            try:
                carrier = Carrier(name)
            except ValueError:
                raise SegmentTableError(f"segment table: unknown carrier [{name}]") from None
            if carrier is Carrier.UNKNOWN or not isinstance(kinds, dict):
                raise SegmentTableError(f"segment table: [{name}] must be a table of kinds")
            for kind_name, prefixes in kinds.items():
                try:
                    kind = Kind(kind_name)
                except ValueError:
                    raise SegmentTableError(f"segment table: unknown kind {name}.{kind_name}") from None
                if not isinstance(prefixes, list):
                    raise SegmentTableError(f"segment table: {name}.{kind_name} must be a list")
                for prefix in prefixes:
                    if (
                        not isinstance(prefix, str)
                        or not prefix.isascii()
                        or not prefix.isdigit()
                        or not _MIN_PREFIX <= len(prefix) <= _MAX_PREFIX
                        or prefix[0] != "1"
                    ):
                        raise SegmentTableError(
                            f"segment table: {name}.{kind_name}: bad prefix {prefix!r} (3-5 digits from 1)"
                        )
                    if prefix in by_prefix:
                        raise SegmentTableError(f"segment table: prefix {prefix} listed twice")
                    by_prefix[prefix] = Segment(prefix, carrier, kind)
        if not by_prefix:
            raise SegmentTableError("segment table: no prefixes")
        return cls(version, str(data.get("source", "")), str(data.get("as_of", "")), by_prefix)

    @classmethod
    def loads(cls, text: str) -> SegmentTable:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SegmentTableError(f"segment table is not valid TOML: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: str | Path) -> SegmentTable:
        return cls.loads(Path(path).read_text(encoding="utf-8"))


_default: SegmentTable | None = None


def default_segments() -> SegmentTable:
    """The table shipped with this package (parsed once per process)."""
    global _default
    if _default is None:
        text = resources.files("sms_gateway.data").joinpath("segments.toml").read_text(encoding="utf-8")
        _default = SegmentTable.loads(text)
    return _default
