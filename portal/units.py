"""One convention for data volumes wherever a person reads or types one: decimal SI units.

1 kB = 1,000 octets, 1 MB = 1,000,000 octets, 1 GB = 1,000,000,000 octets — what carriers bill
in and what phones and operating systems show for data use. Binary multiples (1,048,576) are
never labelled "MB" anywhere: the NOC's plan form, the plan list, the session and user views,
the phone's status page and the API documentation all use the functions here, so "500 MB"
typed by the NOC is 500,000,000 octets stored and "500.0 MB" shown to the phone.

Stored values (Redis, the API, ``[[plans]]`` in the TOML file) are always octets.
"""

from __future__ import annotations

__all__ = ["GB", "KB", "MB", "MB_NOTE_EN", "MB_NOTE_ZH", "format_octets"]

KB = 1_000
MB = 1_000_000
GB = 1_000_000_000

MB_NOTE_ZH = "1 MB = 1,000,000 字节"
MB_NOTE_EN = "1 MB = 1,000,000 bytes"


def format_octets(n: int | float | None, unlimited: str = "") -> str:
    """``n`` octets for people: "812 B", "3.4 kB", "524.3 MB", "1.50 GB" (decimal units);
    ``unlimited`` for None."""
    if n is None:
        return unlimited
    value = float(n)
    if abs(value) < KB:
        return f"{value:.0f} B"
    if abs(value) < MB:
        return f"{value / KB:.1f} kB"
    if abs(value) < GB:
        return f"{value / MB:.1f} MB"
    return f"{value / GB:.2f} GB"
