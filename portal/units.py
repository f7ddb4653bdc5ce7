"""One convention for data volumes wherever a person reads or types one: decimal SI units.

1 kB = 1,000 octets, 1 MB = 1,000,000 octets, 1 GB = 1,000,000,000 octets — what carriers bill
in and what phones and operating systems show for data use. Binary multiples (1,048,576) are
never labelled "MB" anywhere: the NOC's plan form, the plan list, the session and user views,
the phone's status page and the API documentation all use the functions here, so "500 MB"
typed by the NOC is 500,000,000 octets stored and "500.0 MB" shown to the phone.

Stored values (Redis, the API, ``[[plans]]`` in the TOML file) are always octets.
"""

from __future__ import annotations

from portal.texts import MB_NOTE

__all__ = ["GB", "KB", "MB", "MB_NOTE_EN", "MB_NOTE_ZH", "format_duration", "format_octets", "format_rate"]

KB = 1_000
MB = 1_000_000
GB = 1_000_000_000

MB_NOTE_ZH, MB_NOTE_EN = MB_NOTE      # portal/texts.py


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


def format_duration(seconds: int | None) -> str:
    """``h:mm:ss`` of a time left ("" for None: no limit)."""
    if seconds is None:
        return ""
    h, rem = divmod(int(seconds), 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}"


def format_rate(down: int | None, up: int | None) -> str:
    """A plan's rates in kbit/s as the status page shows them ("" when neither is limited)."""
    if down is None and up is None:
        return ""

    def mbps(k: int | None) -> str:
        return "-" if k is None else f"{k / 1000:g} Mbit/s"
    return f"↓ {mbps(down)} ↑ {mbps(up)}"
