"""The pure part of a day's roll-up: real-name records in, one figure table per scope out.

No Redis here (portal/reports/store.py reads and writes): the same function serves the nightly
job, the back-fill from archive files and the reconciliation test.

Sources and what each figure means (for one local day ``[lo, hi)``):

* login records (``portal/legal/reallog.py``, ``kind`` sms/returning/silent) with ``at`` in the day:
  ``logins_<kind>``, ``logins``; ``phones`` = distinct phones that logged in; ``new_phones`` =
  those whose first login anywhere in the network (``first_seen``) is this day — at a venue, AC
  or SSID: such phones that logged in there that day.
* logout records (written by the accounting Stop, a kick, the reaper or Accounting-On/Off, with
  the session's final counters): one session per (AC, acct session id), the record with the
  largest counters wins (a kick then the AC's final Stop give two). ``sessions`` counts the
  sessions that *started* in the day, so a month's sum is its real number of sessions.
  ``seconds`` (Acct-Session-Time), ``bytes_up`` (Acct-Input-Octets: from the phone) and
  ``bytes_down`` are split over the days a session spans in proportion to its wall time in each
  (integer shares of the cumulative total, so the days of one session add up exactly).
  ``peak_sessions`` = most sessions open at one instant in the day.
  A session still open when the day is rolled up is not counted yet; the job rolls each day
  again once ``reports.session_span_hours`` have passed (portal/reports/job.py).
* a session's venue and SSID are those of its logout record (written since reports existed);
  older records take them from the login of the same phone at the same AC that came last before
  the session started; ``-`` when neither is known.

Counter figures that no stream holds (SMS, RADIUS refusals, ad counters) are added by the store
(``merge_counters``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from itertools import accumulate
from operator import itemgetter
from typing import NamedTuple

__all__ = ["DIMS", "LOGIN_KINDS", "UNKNOWN", "Login", "Session", "add_docs", "day_number",
           "parse_entries", "parse_rows", "rollup_day", "share"]

LOGIN_KINDS = ("sms", "returning", "silent")
DIMS = ("t", "v", "a", "s")        # total, venue, AC, SSID
UNKNOWN = "-"
ATTRIBUTION_SLACK_MS = 5_000       # a login is written a moment after the AC's Start
# Figures that do not add up over days or scopes: the combined value is the largest.
MAX_FIGURES = frozenset({"peak_sessions"})

Doc = dict[str, int]
Scope = tuple[str, str]            # (dim, name)


class Login(NamedTuple):     # tuples: a day builds millions of these
    phone: str
    ac: str
    venue: str
    ssid: str
    kind: str
    at_ms: int


class Session(NamedTuple):
    ac: str
    sid: str
    phone: str
    venue: str
    ssid: str
    start_ms: int
    stop_ms: int
    seconds: int
    up: int
    down: int


def day_number(day: dt.date) -> int:
    """``YYYYMMDD`` as an integer (the first-seen table's value)."""
    return day.year * 10000 + day.month * 100 + day.day


def _ms(text: str) -> int:
    return round(float(text) * 1000)


def parse_entries(entries: Iterable[tuple[str, Mapping[str, str]]],
                  login_window: tuple[int, int] | None = None) -> tuple[list[Login], list[Session]]:
    """Real-name stream entries → logins and sessions (deduplicated); malformed entries are
    skipped (the archive keeps them; they cannot be counted). Logins outside ``login_window``
    (``[start, end)`` ms) are dropped at once: the job reads a day past the one it rolls up
    for the logout records of sessions spanning midnight, not for that day's logins."""
    logins: list[Login] = []
    best: dict[tuple[str, str], Session] = {}
    w_lo, w_hi = login_window or (-(2**63), 2**63)
    for _entry_id, f in entries:
        kind = f.get("kind", "")
        try:
            if kind == "logout":
                s = Session(f["ac"], f["sid"], f.get("phone", ""), f.get("venue", ""),
                            f.get("ssid", ""), int(float(f["start"]) * 1000), _ms(f["stop"]),
                            int(f.get("t") or 0), int(f.get("in") or 0), int(f.get("out") or 0))
                old = best.get((s.ac, s.sid))
                if old is None or (s.up + s.down, s.seconds, s.stop_ms) > (
                        old.up + old.down, old.seconds, old.stop_ms):
                    best[(s.ac, s.sid)] = s
            elif kind in LOGIN_KINDS:
                at = _ms(f["at"])
                if w_lo <= at < w_hi:
                    logins.append(Login(f["phone"], f["ac"], f.get("venue", ""), f.get("ssid", ""),
                                        kind, at))
        except (KeyError, ValueError):
            continue
    return logins, list(best.values())


def parse_rows(rows: Iterable[str]) -> tuple[list[Login], list[Session]]:
    """Tab-separated lines of portal/reports/reader.py → logins and sessions, like
    ``parse_entries`` (the lines hold only logins already inside the day).

    A million-login day is two million lines: names are bound to locals and a session with one
    logout record (nearly all) is stored without a comparison."""
    logins: list[Login] = []
    add_login = logins.append
    best: dict[tuple[str, str], Session] = {}
    get = best.get
    new_login, new_session = Login._make, Session._make
    for row in rows:
        f = row.split("\t")
        try:
            if f[0] == "logout":
                s = new_session((f[1], f[2], f[3], f[4], f[5], int(float(f[6]) * 1000),
                                 round(float(f[7]) * 1000), int(f[8] or 0), int(f[9] or 0),
                                 int(f[10] or 0)))
                key = (s[0], s[1])
                old = get(key)
                if old is None or (s[8] + s[9], s[7], s[6]) > (old[8] + old[9], old[7], old[6]):
                    best[key] = s
            else:
                add_login(new_login((f[1], f[2], f[3], f[4], f[0], round(float(f[5]) * 1000))))
        except (IndexError, ValueError, TypeError):
            continue
    return logins, list(best.values())


def _attribute(sessions: list[Session], logins: list[Login]) -> list[Session]:
    """Fill a session's missing venue/SSID from the last login of its phone at its AC."""
    if all(s.venue and s.ssid for s in sessions):
        return sessions            # every record written since logouts carry them
    by_key: dict[tuple[str, str], list[Login]] = defaultdict(list)
    for login in logins:
        by_key[(login.ac, login.phone)].append(login)
    for found in by_key.values():
        found.sort(key=lambda x: x.at_ms)
    out = []
    for s in sessions:
        if not (s.venue and s.ssid):
            match = None
            for login in by_key.get((s.ac, s.phone), ()):
                if login.at_ms > s.start_ms + ATTRIBUTION_SLACK_MS:
                    break
                match = login
            if match is not None:
                s = s._replace(venue=s.venue or match.venue, ssid=s.ssid or match.ssid)
        out.append(s)
    return out


def share(total: int, start_ms: int, stop_ms: int, lo: int, hi: int) -> int:
    """The part of ``total`` that falls in ``[lo, hi)`` when spread evenly over
    ``[start_ms, stop_ms)``: the difference of floored cumulative shares, so the parts of
    adjacent days always add up to ``total``. A session of no length counts where it starts."""
    if stop_ms <= start_ms:
        return total if lo <= start_ms < hi else 0
    span = stop_ms - start_ms

    def upto(bound: int) -> int:
        return total * (min(max(bound, start_ms), stop_ms) - start_ms) // span

    return upto(hi) - upto(lo)


def _scopes(venue: str, ac: str, ssid: str) -> tuple[Scope, ...]:
    return (("t", ""), ("v", venue or UNKNOWN), ("a", ac or UNKNOWN), ("s", ssid or UNKNOWN))


def _peak(events: list[int]) -> int:
    """Most sessions open at one instant, from events ``2 * ms + 1`` (a start) and ``2 * ms``
    (an end): sorted, an end comes before a start at the same millisecond, so back-to-back
    sessions are not concurrent. A city's day is millions of events: the sort, the maps and
    ``accumulate`` all run in C."""
    events.sort()
    return max(accumulate(map(_STEP.__getitem__, map((1).__and__, events))), default=0)


_STEP = (-1, 1)


def rollup_day(
    day: dt.date, lo: int, hi: int, logins: list[Login], sessions: list[Session],
    first_seen: Mapping[str, int],
) -> dict[Scope, Doc]:
    """Figures of local ``day`` (``[lo, hi)`` in epoch ms) for every scope that had any.
    ``first_seen`` maps at least this day's phones to their first ``day_number``.

    Records are first grouped by (venue, AC, SSID) with C-speed counters, then each group is
    added to its four scopes: a day of a million logins is a few thousand groups."""
    docs: dict[Scope, Doc] = defaultdict(lambda: defaultdict(int))
    today = day_number(day)
    in_day = [x for x in logins if lo <= x[5] < hi]
    # Logins are tuples (phone, ac, venue, ssid, kind, at_ms): itemgetter, set and Counter
    # walk a million of them in C.
    for (venue, ac, ssid, kind), n in Counter(map(itemgetter(2, 1, 3, 4), in_day)).items():
        for scope in _scopes(venue, ac, ssid):
            doc = docs[scope]
            doc["logins"] += n
            doc["logins_" + kind] += n
    # Distinct phones: one set per place (venue, AC, SSID), then each scope is the union of its
    # places' sets — set unions run in C, and a city has thousands of places, not millions.
    by_place: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for phone, ac, venue, ssid, _kind, _at in in_day:
        by_place[(venue, ac, ssid)].add(phone)
    phones = set(map(itemgetter(0), in_day))
    get_first = first_seen.get
    new = {p for p in phones if get_first(p) == today}
    for figure, places in (("phones", by_place), ("new_phones", {
            place: found & new for place, found in by_place.items()})):
        per_scope_phones: dict[Scope, set[str]] = defaultdict(set)
        for (venue, ac, ssid), found in places.items():
            if found:
                for scope in _scopes(venue, ac, ssid)[1:]:
                    per_scope_phones[scope] |= found
        for scope, found in per_scope_phones.items():
            docs[scope][figure] = len(found)
    if phones:
        docs[("t", "")]["phones"] = len(phones)
    if new:
        docs[("t", "")]["new_phones"] = len(new)
    groups: dict[tuple[str, str, str], list[int]] = {}
    events: dict[tuple[str, str, str], list[int]] = {}
    for _ac, _sid, _phone, venue, ssid, a, b, t, u, d in _attribute(sessions, logins):
        if b > a:
            if a >= hi or b <= lo:
                continue
            # share() inlined: the cumulative parts at the day's two edges
            span = b - a
            x0 = lo - a if lo > a else 0
            x1 = hi - a if hi < b else span
            seconds = t * x1 // span - t * x0 // span
            up = u * x1 // span - u * x0 // span
            down = d * x1 // span - d * x0 // span
        elif lo <= a < hi:
            seconds, up, down = t, u, d
        else:
            continue
        key = (venue, _ac, ssid)
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, 0, 0, 0]
            events[key] = []
        if a >= lo:
            g[0] += 1
            first = a
        else:
            first = lo
        g[1] += seconds
        g[2] += up
        g[3] += down
        end = b if b < hi else hi
        if end <= first:
            end = first + 1                                   # no length: a moment
        events[key] += (first * 2 + 1, end * 2)
    per_scope: dict[Scope, list[int]] = defaultdict(list)
    for (venue, ac, ssid), (started, seconds, up, down) in groups.items():
        moments = events[(venue, ac, ssid)]
        moments.sort()        # each scope then merges sorted runs: cheaper than sorting anew
        for scope in _scopes(venue, ac, ssid):
            doc = docs[scope]
            doc["sessions"] += started
            doc["seconds"] += seconds
            doc["bytes_up"] += up
            doc["bytes_down"] += down
            per_scope[scope] += moments
    for scope, merged in per_scope.items():
        docs[scope]["peak_sessions"] = _peak(merged)
    return {scope: {k: v for k, v in doc.items() if v} for scope, doc in docs.items()}


def add_docs(docs: Iterable[Mapping[str, int]]) -> Doc:
    """Figures of several days or scopes combined: sums, except the peak (the largest)."""
    out: Doc = defaultdict(int)
    for doc in docs:
        for name, value in doc.items():
            if name in MAX_FIGURES:
                out[name] = max(out[name], value)
            else:
                out[name] += value
    return dict(out)
