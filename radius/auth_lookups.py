"""Per-worker memos of the auth policy (``radius.auth``): pure functions of request text
(User-Name → phone, MAC spellings, SSIDs) and the plan resolution and local day, which change
only when the plan store's snapshot or the date does. Computing them per request was a
measurable share of the CPU per Access-Request (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable

from portal.aaa.acs import AcRecord
from portal.aaa.authorizer import Authorizer
from portal.aaa.plans import Plan
from portal.aaa.usage import Usage, day_of, next_midnight, parse_usage
from radius.batch_reads import flat_pairs
from radius.user_name import phone_of_user_name

__all__ = ["PlanCache", "pairs_memo", "phone_keep", "phone_strip", "without_realm"]

_USAGE_MEMO_MAX = 10_000   # parsed usage hashes (a few hundred bytes each)


def pairs_memo(cache: dict[tuple[bytes, ...], dict[bytes, bytes]], flat: list[bytes] | None
               ) -> dict[bytes, bytes]:
    """``flat_pairs(flat)``, remembered by the reply's content (a MAC binding is read on every
    Access-Request of its device and changes once a month). Callers only read the dict."""
    if not flat:
        return {}
    key = tuple(flat)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _USAGE_MEMO_MAX:
            cache.clear()
        found = cache[key] = flat_pairs(flat)
    return found


def phone_strip(username: str) -> str | None:
    return phone_of_user_name(username, strip_realm=True)


def phone_keep(username: str) -> str | None:
    return phone_of_user_name(username, strip_realm=False)


def without_realm(username: str, ac: AcRecord) -> str:
    return username.partition("@")[0] if ac.strip_realm and "@" in username else username


class PlanCache:
    """Plan resolution, venue lookups and the local day, remembered while they hold."""

    def __init__(self, authorizer: Authorizer,
                 venue_of: Callable[[str, str | None], str | None] | None) -> None:
        self.authorizer = authorizer
        self.venue_of = venue_of
        self._day: tuple[float, float, str, bytes] = (0.0, 0.0, "", b"")   # [from, to) → local day
        self._resolved: dict[tuple[str | None, str, str | None, str | None], Plan | None] = {}
        self._resolved_of: object = None
        # HGETALL reply of a usage hash → its Usage on the current local day (cleared with the
        # day): a phone's counters change with its accounting, every few minutes, while its
        # devices re-authorise far more often; parsing was ~16,000 instructions per request.
        self._usages: dict[tuple[bytes, ...], Usage] = {}

    def refresh(self) -> None:
        """Forget remembered resolutions when the plan store's snapshot changed (once a batch)."""
        snap = self.authorizer.plans.snapshot()
        if snap is not self._resolved_of:
            self._resolved.clear()
            self._resolved_of = snap

    def resolve(self, override: str | None, ac_name: str, ssid: str | None,
                venue: str | None) -> Plan | None:
        """PlanStore.resolve_with, remembered for as long as the store's cached snapshot (the
        same definitions and rules, refreshed every plan_cache_ttl) stays in use. Callers check
        the snapshot first (:meth:`refresh`, once per batch)."""
        key = (override, ac_name, ssid, venue)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        plan = self._resolved[key] = self.authorizer.plans.resolve_with(override, ac_name, ssid, venue)
        return plan

    def venue(self, ac_name: str, ssid: str | None,
              venues: dict[tuple[str, str | None], str | None]) -> str | None:
        """The venue of (AC, SSID), looked up once per batch (``venues``: the batch's)."""
        if self.venue_of is None:
            return None
        where = (ac_name, ssid)
        try:
            return venues[where]
        except KeyError:
            venue = venues[where] = self.venue_of(ac_name, ssid)
            return venue

    def usage(self, flat: list[bytes] | None, now: float) -> Usage:
        """portal.aaa.usage.parse_usage over the flat HGETALL reply, with the local day cached
        until the next local midnight (strftime per request was a measurable cost)."""
        lo, hi, today, today_raw = self._day
        if not lo <= now < hi:
            tz = self.authorizer.usage.tz
            today = day_of(now, tz)
            today_raw = today.encode()
            self._day = (now, next_midnight(now, tz), today, today_raw)
            self._usages.clear()   # a Usage holds its day's counters
        key = tuple(flat) if flat else ()
        usages = self._usages
        found = usages.get(key)
        if found is None:
            if len(usages) >= _USAGE_MEMO_MAX:
                usages.clear()
            found = usages[key] = parse_usage(flat_pairs(flat), today, today_raw)
        return found
