"""authorize(): every limit in the Session-Timeout minimum, every refusal code, one round trip."""

from __future__ import annotations

import datetime as dt
import hmac
import multiprocessing
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.aaa.acs import AcRecord
from portal.aaa.authorizer import Authorizer, authorize
from portal.aaa.grants import (
    REFUSAL_MESSAGES,
    ClassSigner,
    QuotaRefusal,
    is_signed_class,
    make_class,
    parse_class,
)
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.runtime.settings import QuotaSettings

SH = ZoneInfo("Asia/Shanghai")
PHONE = "13800138000"
MAC = "aa:bb:cc:dd:ee:01"
AC = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="s")
NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=SH).timestamp()
MIDNIGHT = dt.datetime(2026, 3, 11, 0, 0, tzinfo=SH).timestamp()


def _setup(redis_client: Any, plan: Plan, tz: str = "Asia/Shanghai") -> Authorizer:
    store = PlanStore(redis_client, cache_ttl=0.0)
    store.put(plan)
    store.assign("default", "", plan.name)
    return Authorizer(redis_client, QuotaSettings(timezone=tz, plan_cache_ttl=0.0))


def _grant(auth: Authorizer, now: float = NOON, mac: str | None = MAC) -> Any:
    return auth.authorize(PHONE, mac, AC, "CityWiFi", now)


def test_unlimited_plan_grants_without_timeout(redis_client: Any) -> None:
    auth = _setup(redis_client, Plan("free", up_kbps=1024, down_kbps=4096, idle_timeout=600))
    g = _grant(auth)
    assert g.session_timeout is None and g.terminate_at is None
    assert (g.up_kbps, g.down_kbps, g.idle_timeout, g.interim_interval) == (1024, 4096, 600, 300)
    info = parse_class(g.class_)
    assert info is not None and (info.phone, info.plan, info.issued) == (PHONE, "free", int(NOON))
    assert len(g.class_) <= 253


@pytest.mark.parametrize(
    ("plan", "used_time", "first_login", "expected"),
    [
        (Plan("p", session_timeout=1800), 0, None, 1800),                    # session cap
        (Plan("p", daily_time=3600, session_timeout=7200), 1000, None, 2600),  # daily time left
        (Plan("p", total_time=5000, session_timeout=7200), 4000, None, 1000),  # total time left
        (Plan("p", valid_until=NOON + 90), 0, None, 90),                       # fixed end date
        (Plan("p", validity_days=2), 0, NOON - 2 * 86400 + 120, 120),          # days from first login
        (Plan("p", daily_time=86400), 0, None, int(MIDNIGHT - NOON)),          # daily reset
        (Plan("p", interim_interval=120, session_timeout=100000, daily_time=10**6,
               total_time=500), 0, None, 500),
    ],
)
def test_session_timeout_is_the_smallest_remaining_limit(
    redis_client: Any, plan: Plan, used_time: int, first_login: float | None, expected: int
) -> None:
    auth = _setup(redis_client, plan)
    book = UsageBook(redis_client)
    if used_time:
        book.add(PHONE, used_time, 0, NOON - 60)
    if first_login is not None:
        redis_client.hset(f"cw:{{p:{PHONE}}}:usage", "f", first_login)
    g = _grant(auth)
    assert g.session_timeout == expected


def test_daily_reset_is_local_midnight_in_the_configured_zone(redis_client: Any) -> None:
    late = MIDNIGHT - 300  # 23:55 Shanghai
    auth = _setup(redis_client, Plan("p", daily_time=3600))
    assert _grant(auth, late).session_timeout == 300
    auth_utc = _setup(redis_client, Plan("p", daily_time=3600), tz="UTC")
    assert _grant(auth_utc, late).session_timeout == 3600  # UTC midnight is 8 h later


def test_daily_quota_comes_back_after_midnight(redis_client: Any) -> None:
    auth = _setup(redis_client, Plan("p", daily_time=3600))
    UsageBook(redis_client).add(PHONE, 3600, 0, NOON)
    with pytest.raises(QuotaRefusal) as exc:
        _grant(auth, NOON + 10)
    assert exc.value.code == "daily_time_used"
    assert _grant(auth, MIDNIGHT + 1).session_timeout == 3600


def test_validity_starts_at_first_login(redis_client: Any) -> None:
    auth = _setup(redis_client, Plan("p", validity_days=1))
    g = _grant(auth, NOON)
    assert g.terminate_at == NOON + 86400 and g.session_timeout == 86400
    g2 = _grant(auth, NOON + 3600)
    assert g2.terminate_at == NOON + 86400 and g2.session_timeout == 86400 - 3600
    with pytest.raises(QuotaRefusal) as exc:
        _grant(auth, NOON + 86400)
    assert exc.value.code == "expired"


@pytest.mark.parametrize(
    ("plan", "seconds", "octets", "code"),
    [
        (Plan("p", valid_until=NOON - 1), 0, 0, "expired"),
        (Plan("p", daily_time=100), 100, 0, "daily_time_used"),
        (Plan("p", total_time=100), 100, 0, "total_time_used"),
        (Plan("p", daily_volume=1000), 0, 1000, "daily_volume_used"),
        (Plan("p", total_volume=1000), 0, 1000, "total_volume_used"),
    ],
)
def test_refusals(redis_client: Any, plan: Plan, seconds: int, octets: int, code: str) -> None:
    auth = _setup(redis_client, plan)
    if seconds or octets:
        UsageBook(redis_client).add(PHONE, seconds, octets, NOON - 10)
    with pytest.raises(QuotaRefusal) as exc:
        _grant(auth)
    assert exc.value.code == code
    assert exc.value.message_zh == REFUSAL_MESSAGES[code][0]


def test_total_volume_refusal_survives_midnight_daily_does_not(redis_client: Any) -> None:
    auth = _setup(redis_client, Plan("p", daily_volume=10, total_volume=100))
    UsageBook(redis_client).add(PHONE, 0, 100, NOON)
    with pytest.raises(QuotaRefusal) as exc:
        _grant(auth, MIDNIGHT + 5)
    assert exc.value.code == "total_volume_used"


def test_no_plan(redis_client: Any) -> None:
    auth = Authorizer(redis_client, QuotaSettings(plan_cache_ttl=0.0))
    with pytest.raises(QuotaRefusal) as exc:
        _grant(auth)
    assert exc.value.code == "no_plan"


def test_too_many_devices_counts_live_sessions_of_other_devices(redis_client: Any) -> None:
    auth = _setup(redis_client, Plan("p", max_sessions=1))
    reg = SessionRegistry(redis_client, grace=60)
    reg.open(OnlineSession("ac1", "s1", PHONE, mac=MAC, started=int(NOON - 100),
                           updated=int(NOON - 100), interim=300))
    # the same device logging in again does not count against itself
    assert _grant(auth, mac="AA-BB-CC-DD-EE-01").plan_name == "p"
    with pytest.raises(QuotaRefusal) as exc:
        _grant(auth, mac="aa:bb:cc:dd:ee:02")
    assert exc.value.code == "too_many_devices"
    with pytest.raises(QuotaRefusal):
        _grant(auth, mac=None)  # unknown device: counts
    # a silent session (past 2 × interim + grace) does not block
    assert _grant(auth, NOON - 100 + 660 + 1, mac="aa:bb:cc:dd:ee:02").plan_name == "p"


def test_every_reply_message_fits_one_attribute() -> None:
    for code in REFUSAL_MESSAGES:
        msg = QuotaRefusal(code).reply_message
        assert " / " in msg and len(msg.encode("utf-8")) <= 253
    with pytest.raises(ValueError):
        QuotaRefusal("bogus")


def test_class_parsing_rejects_foreign_values() -> None:
    assert parse_class(None) is None
    assert parse_class(b"foreign-class") is None
    assert parse_class(b"cw1|notdigits|p|1|aa") is None
    assert parse_class(make_class("1380", "p", 5, b"\x01\x02")) is not None


def test_signed_class_verifies_only_for_its_ac_and_unchanged() -> None:
    signer = ClassSigner(b"k" * 32)
    value = signer.make("13800138000", "basic", 1_700_000_000, "ac1", b"\x01\x02\x03\x04")
    assert value.startswith(b"cw2|13800138000|basic|1700000000|01020304|") and len(value) <= 253
    info = signer.verify(value, "ac1")
    assert info is not None and (info.phone, info.plan, info.issued, info.login, info.signed) == (
        "13800138000", "basic", 1_700_000_000, "01020304", True)
    assert signer.verify(value, "ac1") == info                         # cached, same answer
    assert signer.verify(value, "ac2") is None                         # another AC
    assert ClassSigner(b"x" * 32).verify(value, "ac1") is None         # another key
    assert signer.verify(value.replace(b"13800138000", b"13900139000"), "ac1") is None
    assert signer.verify(make_class("13800138000", "basic", 1_700_000_000), "ac1") is None
    assert is_signed_class(value) and not is_signed_class(make_class("1", "p", 1))


@pytest.mark.parametrize("key", [b"k" * 16, b"k" * 64, b"long-key-" * 10])
def test_class_tag_is_hmac_sha256_of_the_ac_and_body(key: bytes) -> None:
    """The tag is RFC 2104 HMAC-SHA256 (kept key states must not change a single bit), for keys
    shorter than, equal to and longer than the 64-byte block, and for several ACs in turn."""
    signer = ClassSigner(key)
    for ac in ("ac1", "ac2", "ac1", "校园-AC"):
        value = signer.make("13800138000", "basic", 1_700_000_000, ac, b"\x01\x02\x03\x04")
        body, _, tag = value.rpartition(b"|")
        assert tag == hmac.digest(key, ac.encode() + b"|" + body, "sha256")[:16].hex().encode()


def _class_in_child(out: Any) -> None:
    out.put(make_class("13800138000", "basic", 1_700_000_000))


def test_class_nonce_differs_between_forked_workers() -> None:
    # `citywifi radius --workers N` forks: two workers granting the same phone in the same
    # second must still issue different Class values (accounting ties to the login by Class).
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    children = [ctx.Process(target=_class_in_child, args=(out,)) for _ in range(4)]
    for child in children:
        child.start()
    values = {out.get(timeout=20) for _ in children}
    for child in children:
        child.join(20)
    values.add(make_class("13800138000", "basic", 1_700_000_000))
    assert len(values) == 5, values
    assert all(parse_class(v) is not None for v in values)


def test_one_round_trip_when_plans_are_cached(redis_client: Any) -> None:
    store = PlanStore(redis_client, cache_ttl=0.0)
    store.put(Plan("p", daily_time=3600, max_sessions=2))
    store.assign("default", "", "p")
    UsageBook(redis_client).mark_first_login(PHONE, NOON - 5)
    auth = Authorizer(redis_client, QuotaSettings(plan_cache_ttl=60.0))
    auth.authorize(PHONE, MAC, AC, None, NOON)  # warms the plan cache
    before = int(redis_client.info("stats")["total_commands_processed"])
    auth.authorize(PHONE, MAC, AC, None, NOON + 1)
    after = int(redis_client.info("stats")["total_commands_processed"])
    assert after - before == 3 + 1  # GET + HGETALL + HGETALL in one pipeline, + our INFO


def test_module_function_reuses_authorizer(redis_client: Any) -> None:
    store = PlanStore(redis_client, cache_ttl=0.0)
    store.put(Plan("p"))
    store.assign("default", "", "p")
    assert authorize(redis_client, PHONE, MAC, AC, "x", NOON).plan_name == "p"
    assert authorize(redis_client, PHONE, MAC, AC, "x", NOON,
                     settings=QuotaSettings(default_interim=600)).interim_interval == 600


def test_accepts_reserve_device_slots_atomically(redis_client: Any) -> None:
    """A plan's device limit on the generic path (also run on Redis Cluster by tests/scale): each grant
    reserves its device's slot; the third device is refused though no session ever started, the
    token consume step reserves too and leaves a refused token unspent."""
    from portal.aaa.credentials import CredentialStore, DevicesFull
    from portal.aaa.device_slots import slot_field
    from portal.state import keys

    auth = _setup(redis_client, Plan("p", max_sessions=2))
    for mac in ("aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"):
        auth.reserve(PHONE, mac, _grant(auth, mac=mac), NOON)
    auth.reserve(PHONE, MAC, _grant(auth, mac=MAC), NOON)    # the same device again: its own slot
    third = _grant(auth, mac="aa:bb:cc:dd:ee:03")             # the stale pre-check lets it pass …
    with pytest.raises(QuotaRefusal) as exc:
        auth.reserve(PHONE, "aa:bb:cc:dd:ee:03", third, NOON)  # … the reservation does not
    assert exc.value.code == "too_many_devices"
    creds = CredentialStore(redis_client, clock=lambda: NOON)
    token = creds.mint_login_token(PHONE, mac="aa:bb:cc:dd:ee:03")
    consume = creds.with_reservation(creds.consume_command(PHONE, token.password, "aa:bb:cc:dd:ee:03"),
                                     PHONE, 2, slot_field("aa:bb:cc:dd:ee:03", "0a0b"), 30, 60, "0a0b")
    plan = creds.plan_pap(PHONE, token.password, "aa:bb:cc:dd:ee:03")
    with pytest.raises(DevicesFull):
        creds.decide_pap(plan, creds.run([("HGETALL", keys.mac_binding("aa:bb:cc:dd:ee:03")), consume]))
    assert redis_client.hexists(keys.login_tokens(PHONE), token.password)
    # Past the hold the two reservations lapse: the token is spent and its device holds a slot.
    consume = (*consume[:4], f"{NOON + 31:.3f}", *consume[5:])
    creds.decide_pap(plan, creds.run([("HGETALL", keys.mac_binding("aa:bb:cc:dd:ee:03")), consume]))
    assert list(redis_client.hgetall(keys.device_slots(PHONE))) == [b"aa:bb:cc:dd:ee:03"]
