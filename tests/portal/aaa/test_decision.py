"""portal.aaa.decision.decide on its own (no Redis): the order of the checks, the sessions
pre-check, and what each refusal carries. The same decisions through every backend's whole
RADIUS chain are in tests/radius/test_decision_backends.py."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from portal.aaa.decision import AuthReads, DecisionRules, Refusal, decide, screen, starts_validity
from portal.aaa.grants import ClassSigner, Grant, parse_class
from portal.aaa.plans import Plan
from portal.aaa.sessions import OnlineSession
from portal.aaa.usage import Usage

NOW = 1_900_000_000.0
RULES = DecisionRules(ZoneInfo("Asia/Shanghai"), default_interim=300, grace=60.0)
PHONE, MAC = "13800138000", "aa:bb:cc:dd:ee:01"


def entry(expires: float = 0.0) -> bytes:
    return json.dumps({"value": PHONE, "reason": "x", "expires": expires, "by": "", "at": 0.0}).encode()


def reads(*, phone_entry: bytes | None = None, mac_entry: bytes | None = None, usage: Usage | None = None,
          sessions: list[OnlineSession] | None = None, mac: str | None = MAC) -> AuthReads:
    return AuthReads(PHONE, mac, phone_entry, mac_entry, usage or Usage(day="20300317"), sessions)


def session(mac: str, updated: float = NOW) -> OnlineSession:
    return OnlineSession("ac1", f"s-{mac}", PHONE, mac=mac, started=int(updated) - 10,
                         updated=int(updated), interim=300)


def test_blocklist_comes_before_everything_else() -> None:
    used_up = Usage(day="20300317", total_time=10)
    for phone_entry, mac_entry in ((entry(), None), (None, entry()), (b"{not json", None)):
        listed = reads(phone_entry=phone_entry, mac_entry=mac_entry, usage=used_up)
        got = decide(listed, None, RULES, "ac1", NOW)
        assert got == Refusal("blocked", PHONE)
    expired = decide(reads(phone_entry=entry(expires=NOW - 1)), Plan(name="p"), RULES, "ac1", NOW)
    assert isinstance(expired, Grant)                     # an expired block no longer blocks


def test_no_plan_then_quota() -> None:
    assert decide(reads(), None, RULES, "ac1", NOW) == Refusal("no_plan", PHONE)
    plan = Plan(name="p", total_time=10, daily_time=5)
    used = Usage(day="20300317", daily_time=5, total_time=10)
    got = decide(reads(usage=used), plan, RULES, "ac1", NOW)
    assert got == Refusal("daily_time_used", f"{PHONE} plan p")          # daily checked first
    assert screen(reads(usage=used), plan, NOW) == got


def test_sessions_precheck_counts_other_live_devices_only() -> None:
    plan = Plan(name="p", max_sessions=1)
    own = decide(reads(sessions=[session(MAC)]), plan, RULES, "ac1", NOW)
    assert isinstance(own, Grant)                                         # its own device
    other = decide(reads(sessions=[session("aa:bb:cc:dd:ee:02")]), plan, RULES, "ac1", NOW)
    assert other == Refusal("too_many_devices", f"{PHONE}: 1 online")
    stale = session("aa:bb:cc:dd:ee:02", updated=NOW - 3600)              # past interim + grace
    assert isinstance(decide(reads(sessions=[stale]), plan, RULES, "ac1", NOW), Grant)
    # None = the device-slot reservation decides (the RADIUS paths): no pre-check at all.
    assert screen(reads(sessions=None), plan, NOW) is None


def test_grant_is_signed_for_its_ac_with_the_given_nonce() -> None:
    signer = ClassSigner(b"k" * 32)
    rules = DecisionRules(RULES.tz, 300, 60.0, signer)
    got = decide(reads(), Plan(name="gold", session_timeout=900, up_kbps=1000), rules, "ac1", NOW,
                 b"\x00\x00\x00\x2a")
    assert isinstance(got, Grant)
    assert got.session_timeout == 900 and got.up_kbps == 1000 and got.interim_interval == 300
    info = signer.verify(got.class_, "ac1")
    assert info is not None and info.plan == "gold" and info.login == "0000002a"
    assert signer.verify(got.class_, "ac2") is None
    unsigned = decide(reads(), Plan(name="gold"), RULES, "", NOW)
    assert isinstance(unsigned, Grant) and parse_class(unsigned.class_) is not None


def test_validity_starts_at_the_first_login_only() -> None:
    week = Plan(name="w", validity_days=7)
    assert starts_validity(week, Usage(day="d"))
    assert not starts_validity(week, Usage(day="d", first_login=NOW - 10))
    assert not starts_validity(Plan(name="open"), Usage(day="d"))
    over = decide(reads(usage=Usage(day="d", first_login=NOW - 8 * 86400)), week, RULES, "ac1", NOW)
    assert isinstance(over, Refusal) and over.code == "expired"
