"""Report counters that no record stream holds: SMS and RADIUS refusals, by venue, AC and SSID.

The SMS worker knows, from the job the login page queued, the venue, AC and SSID of the phone's
login context; a RADIUS worker knows the AC of a refused request, its Called-Station-Id (SSID) and
so its venue. Each counts where the fact happens (``portal.noc.livestats.LiveStats``), into one hash
per quarter hour (``keys_reports.report_counts``) whose fields name the figure and the place:
``<figure>\\t<venue>\\t<AC>\\t<SSID>`` → count. Quarter hours, because every time zone's
midnight falls on one, so the roll-up of a local day (portal/reports/store.py) adds up exactly
its own buckets whatever ``archive.timezone`` says; the hashes live ``COUNTS_TTL``.

Figures: ``sms_sent``, ``sms_fen`` (cost, at ``sms.price_fen`` per message sent),
``sms_delivered``, ``sms_failed`` (send failures and undelivered reports), ``refused:<reason>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["COUNTS_TTL", "QUARTER_MS", "Place", "field", "parse_field", "quarters", "sms_figures"]

QUARTER_MS = 900_000
COUNTS_TTL = 45 * 86400        # the final roll-up comes a day after; recomputes keep stored figures
Place = tuple[str, str, str]   # (venue, AC, SSID); "" when not known

_SMS = {"sent": "sms_sent", "delivered": "sms_delivered", "failed": "sms_failed",
        "undelivered": "sms_failed"}


def _clean(text: str) -> str:
    # The separator cannot appear in a name (SSIDs come from the AC).
    return text.replace("\t", " ").replace("\n", " ")


def field(figure: str, place: Place) -> str:
    venue, ac, ssid = place
    return f"{figure}\t{_clean(venue)}\t{_clean(ac)}\t{_clean(ssid)}"


def parse_field(name: str) -> tuple[str, Place] | None:
    parts = name.split("\t")
    if len(parts) != 4 or not parts[0]:
        return None
    return parts[0], (parts[1], parts[2], parts[3])


def sms_figures(outcome: str, n: int, price_fen: int) -> Mapping[str, int]:
    """What ``n`` SMS codes with ``outcome`` (sent/failed/delivered/undelivered) add."""
    figure = _SMS.get(outcome)
    if figure is None or n <= 0:
        return {}
    return {figure: n, "sms_fen": n * price_fen} if outcome == "sent" else {figure: n}


def quarters(lo_ms: int, hi_ms: int) -> Iterator[int]:
    """The quarter-hour buckets (epoch ms // ``QUARTER_MS``) of ``[lo_ms, hi_ms)``."""
    return iter(range(lo_ms // QUARTER_MS, -(-hi_ms // QUARTER_MS)))
