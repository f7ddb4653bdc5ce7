"""OtpService against a real Redis: issuing, every limit, expiry, reuse, device binding, blocklist."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.blocklist import Blocklist
from portal.phone.otp import IssuedCode, OtpRefused, OtpRejected, OtpService, load_hmac_key
from portal.phone.phone_policy import RedisLookupCache, build_number_policy
from portal.runtime.settings import NumberPolicySettings, OtpSettings
from portal.state import keys

PHONE = "18912345678"
MAC = "AA-BB-CC-DD-EE-01"
IP = "10.1.2.3"
KEY = b"k" * 32
T0 = 1_700_000_040.0 + 10      # 10 s into a minute (1_700_000_040 is a whole minute)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# Generous caps by default so each test exercises one limit at a time.
LOOSE = OtpSettings(per_phone_hour=100, per_phone_day=100, per_mac_hour=100, per_mac_day=100,
                    per_ip_hour=100, per_ip_day=100, per_ac_minute=100, global_per_minute=100)


def service(redis: Any, clock: Clock | None = None, **overrides: Any) -> OtpService:
    cfg = dataclasses.replace(LOOSE, **overrides)
    clock = clock or Clock()
    return OtpService(redis, cfg, KEY, clock=clock, blocklist=Blocklist(redis, clock=clock))


def refused(fn: Any, *args: Any, **kwargs: Any) -> OtpRefused:
    with pytest.raises(OtpRefused) as info:
        fn(*args, **kwargs)
    assert info.value.message_zh and info.value.message_en
    return info.value


def rejected(svc: OtpService, code: str, phone: str = PHONE, mac: str = MAC, ip: str = IP) -> OtpRejected:
    with pytest.raises(OtpRejected) as info:
        svc.verify(phone, code, mac, ip)
    assert info.value.message_zh and info.value.message_en
    return info.value


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**len(code):0{len(code)}d}"


# --- issuing -------------------------------------------------------------------------------

def test_issue_and_verify_once(redis_client: Any) -> None:
    svc = service(redis_client)
    issued = svc.request_code("+86 189-1234-5678", MAC, IP, "ac1")
    assert issued.phone == PHONE and len(issued.code) == 6 and issued.code.isdigit()
    assert issued.expires_at == T0 + 300 and issued.resend_after == T0 + 60
    assert issued.code not in repr(issued)
    ok = svc.verify(PHONE, issued.code, "aa:bb:cc:dd:ee:01", IP)
    assert (ok.phone, ok.mac, ok.ip, ok.ac_name) == (PHONE, "aa:bb:cc:dd:ee:01", IP, "ac1")
    assert rejected(svc, issued.code).code == "used"


def test_only_a_keyed_hash_is_stored(redis_client: Any) -> None:
    issued = service(redis_client).request_code(PHONE, MAC, IP)
    record = redis_client.hgetall(keys.otp_code(PHONE))
    blob = b"".join(k + v for k, v in record.items())
    assert issued.code.encode() not in blob
    assert len(record[b"h"]) == 64


def test_digits_configurable_and_sms_text(redis_client: Any) -> None:
    issued = service(redis_client, digits=8).request_code(PHONE, MAC, IP)
    assert len(issued.code) == 8
    expected = f"【无线城市】您的上网验证码是{issued.code}，5分钟内有效，请勿泄露给他人。"
    assert issued.sms_text("【无线城市】") == expected
    assert issued.code in issued.sms_text("[CityWiFi]", "en")


def test_codes_are_random(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, resend_cooldown=0)
    codes = set()
    for i in range(30):
        clock.now += 1
        codes.add(svc.request_code(f"1891234{i:04d}", MAC, IP).code)
    assert len(codes) > 25


def test_new_code_invalidates_previous(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock)
    first = svc.request_code(PHONE, MAC, IP)
    clock.now += 61
    second = svc.request_code(PHONE, MAC, IP)
    if first.code != second.code:
        assert rejected(svc, first.code).code == "wrong_code"
    svc.verify(PHONE, second.code, MAC, IP)


# --- verification outcomes -----------------------------------------------------------------

def test_expiry_with_controlled_clock(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock)
    issued = svc.request_code(PHONE, MAC, IP)
    clock.now = issued.expires_at - 0.5
    assert svc.pending(PHONE, MAC, IP) is not None
    clock.now = issued.expires_at
    assert rejected(svc, issued.code).code == "expired"
    assert svc.pending(PHONE, MAC, IP) is None


def test_a_number_without_a_code_is_told_so_and_learns_nothing_of_other_devices(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock)
    err = rejected(svc, "123456")
    assert err.code == "no_code" and "Get code" in err.message("en") and "获取验证码" in err.message("zh")
    assert rejected(svc, "123456", phone="garbage").code == "no_code"
    # Another device's code, expired or used, reads exactly like no code at all; its own device
    # is told what happened to it.
    other = "aa:bb:cc:dd:ee:02"
    issued = svc.request_code(PHONE, MAC, IP)
    clock.now = issued.expires_at
    assert rejected(svc, issued.code, mac=other, ip="10.9.9.9").code == "no_code"
    assert rejected(svc, issued.code).code == "expired"
    clock.now += 61
    issued = svc.request_code(PHONE, MAC, IP)
    svc.verify(PHONE, issued.code, MAC, IP)
    assert rejected(svc, issued.code, mac=other, ip="10.9.9.9").code == "no_code"
    assert rejected(svc, issued.code).code == "used"


def test_five_wrong_tries_kill_the_code(redis_client: Any) -> None:
    svc = service(redis_client)
    issued = svc.request_code(PHONE, MAC, IP)
    bad = wrong(issued.code)
    for left in (4, 3, 2, 1):
        err = rejected(svc, bad)
        assert (err.code, err.attempts_left) == ("wrong_code", left)
        assert str(left) in err.message_zh
    assert rejected(svc, bad).code == "too_many_attempts"
    assert rejected(svc, issued.code).code == "too_many_attempts"   # even the right code now


def test_max_attempts_configurable(redis_client: Any) -> None:
    svc = service(redis_client, max_attempts=2)
    issued = svc.request_code(PHONE, MAC, IP)
    assert rejected(svc, wrong(issued.code)).code == "wrong_code"
    assert rejected(svc, wrong(issued.code)).code == "too_many_attempts"


def test_concurrent_guesses_cannot_exceed_the_cap(redis_client: Any) -> None:
    svc = service(redis_client)
    issued = svc.request_code(PHONE, MAC, IP)
    outcomes: list[str] = []

    def guess() -> None:
        try:
            svc.verify(PHONE, wrong(issued.code), MAC, IP)
        except OtpRejected as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("wrong_code") + outcomes.count("too_many_attempts") == 20
    assert int(redis_client.hget(keys.otp_code(PHONE), "tries")) == 5


def test_wrong_device(redis_client: Any) -> None:
    svc = service(redis_client)
    issued = svc.request_code(PHONE, MAC, IP)
    assert rejected(svc, issued.code, mac="aa:bb:cc:dd:ee:02").code == "wrong_device"
    assert rejected(svc, issued.code, mac="").code == "wrong_device"       # same IP, no MAC
    # wrong-device attempts do not burn the owner's tries
    assert int(redis_client.hget(keys.otp_code(PHONE), "tries")) == 0
    svc.verify(PHONE, issued.code, MAC, "10.9.9.9")   # same MAC, new IP after reassociation: fine


def test_bound_to_ip_when_no_mac(redis_client: Any) -> None:
    svc = service(redis_client)
    issued = svc.request_code(PHONE, "", IP)
    assert rejected(svc, issued.code, mac="", ip="10.1.2.4").code == "wrong_device"
    svc.verify(PHONE, issued.code, MAC, IP)     # the AC now reports a MAC; the IP still matches


def test_reload_resumes_within_validity(redis_client: Any) -> None:
    """The login window closes and reopens; the same device finishes with the same code."""
    clock = Clock()
    svc = service(redis_client, clock)
    issued = svc.request_code(PHONE, MAC, IP)
    clock.now += 200
    reopened = service(redis_client, clock)          # a fresh service object, as after a reload
    pending = reopened.pending("189 1234 5678", MAC, IP)
    assert pending is not None
    assert (pending.expires_at, pending.resend_after, pending.attempts_left) == (T0 + 300, T0 + 60, 5)
    assert reopened.pending(PHONE, "aa:bb:cc:dd:ee:02", "10.0.0.9") is None
    reopened.verify(PHONE, issued.code, MAC, IP)
    assert reopened.pending(PHONE, MAC, IP) is None


def test_malformed_code_is_wrong_code(redis_client: Any) -> None:
    svc = service(redis_client)
    svc.request_code(PHONE, MAC, IP)
    assert rejected(svc, "１２３４５６").code == "wrong_code"
    assert rejected(svc, "").code == "wrong_code"


# --- request refusals ----------------------------------------------------------------------

def test_resend_cooldown(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock)
    svc.request_code(PHONE, MAC, IP)
    clock.now += 20
    err = refused(svc.request_code, PHONE, MAC, IP)
    assert (err.code, err.retry_after) == ("resend_too_soon", 40)
    assert "40" in err.message_zh and "40 seconds" in err.message_en
    clock.now += 40
    svc.request_code(PHONE, MAC, IP)


def test_phone_hourly_and_daily_caps(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, per_phone_hour=2, per_phone_day=3)
    for _ in range(2):
        svc.request_code(PHONE, MAC, IP)
        clock.now += 61
    err = refused(svc.request_code, PHONE, MAC, IP)
    assert err.code == "phone_hourly_cap"
    assert err.retry_after == int((clock.now // 3600 + 1) * 3600 - clock.now + 0.999)
    clock.now = (clock.now // 3600 + 1) * 3600 + 1
    svc.request_code(PHONE, MAC, IP)
    clock.now += 61
    err = refused(svc.request_code, PHONE, MAC, IP)
    assert err.code == "phone_daily_cap"
    # the day rolls over at midnight China time (UTC+8)
    next_midnight = ((clock.now + 8 * 3600) // 86400 + 1) * 86400 - 8 * 3600
    assert err.retry_after == int(next_midnight - clock.now + 0.999)
    clock.now = next_midnight + 1
    svc.request_code(PHONE, MAC, IP)


def test_mac_caps_and_release_of_phone_reservation(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, per_mac_hour=2)
    svc.request_code("18900000001", MAC, IP)
    svc.request_code("18900000002", MAC, IP)
    err = refused(svc.request_code, "18900000003", MAC, IP)
    assert err.code == "device_hourly_cap" and err.retry_after > 0
    # the refused request reserved nothing: the phone may ask at once from another device
    svc.request_code("18900000003", "aa:bb:cc:dd:ee:99", IP)


def test_mac_daily_cap(redis_client: Any) -> None:
    svc = service(redis_client, per_mac_day=1)
    svc.request_code("18900000001", MAC, IP)
    assert refused(svc.request_code, "18900000002", MAC, IP).code == "device_daily_cap"


def test_ip_caps(redis_client: Any) -> None:
    svc = service(redis_client, per_ip_hour=1)
    svc.request_code("18900000001", "", IP)
    assert refused(svc.request_code, "18900000002", "", IP).code == "ip_hourly_cap"
    svc2 = service(redis_client, per_ip_day=1)
    svc2.request_code("18900000004", "", "10.7.7.7")
    assert refused(svc2.request_code, "18900000005", "", "10.7.7.7").code == "ip_daily_cap"


def test_ac_rate(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, per_ac_minute=2)
    svc.request_code("18900000001", "aa:bb:cc:dd:ee:01", "10.0.0.1", "ac1")
    svc.request_code("18900000002", "aa:bb:cc:dd:ee:02", "10.0.0.2", "ac1")
    err = refused(svc.request_code, "18900000003", "aa:bb:cc:dd:ee:03", "10.0.0.3", "ac1")
    assert err.code == "ac_rate" and err.retry_after == 50
    svc.request_code("18900000003", "aa:bb:cc:dd:ee:03", "10.0.0.3", "ac2")     # other AC unaffected


def test_global_budget_reserved_last_and_released(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, global_per_minute=2)
    svc.request_code("18900000001", "aa:bb:cc:dd:ee:01", "10.0.0.1", "ac1")
    svc.request_code("18900000002", "aa:bb:cc:dd:ee:02", "10.0.0.2", "ac1")
    err = refused(svc.request_code, "18900000003", "aa:bb:cc:dd:ee:03", "10.0.0.3", "ac1")
    assert err.code == "global_budget" and err.retry_after == 50
    # every earlier family was released: counters back to what the two successes left
    minute, hour = int(clock.now // 60), int(clock.now // 3600)
    assert int(redis_client.get(keys.otp_ac_counter("ac1", "m", minute))) == 2
    assert redis_client.get(keys.otp_mac_counter("aa:bb:cc:dd:ee:03", "h", hour)) in (None, b"0")
    assert redis_client.get(keys.otp_ip_counter("10.0.0.3", "h", hour)) in (None, b"0")
    assert redis_client.get(keys.otp_last_sent("18900000003")) is None
    clock.now += 60
    svc.request_code("18900000003", "aa:bb:cc:dd:ee:03", "10.0.0.3", "ac1")


def test_released_cooldown_restores_previous_stamp(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, per_mac_hour=1)
    svc.request_code(PHONE, MAC, IP)
    clock.now += 61
    assert refused(svc.request_code, PHONE, MAC, IP).code == "device_hourly_cap"
    assert float(redis_client.get(keys.otp_last_sent(PHONE))) == T0


def test_zero_means_unlimited(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock, resend_cooldown=0, per_phone_hour=0, per_phone_day=0,
                  per_mac_hour=0, per_mac_day=0, per_ip_hour=0, per_ip_day=0, per_ac_minute=0,
                  global_per_minute=0)
    for _ in range(15):
        svc.request_code(PHONE, MAC, IP, "ac1")
    assert not redis_client.keys("*otpn*")


def test_limits_hold_under_concurrency(redis_client: Any) -> None:
    svc = service(redis_client, global_per_minute=7, resend_cooldown=0)
    issued: list[IssuedCode] = []
    errors: list[str] = []

    def ask(i: int) -> None:
        try:
            issued.append(svc.request_code(f"1890000{i:04d}", f"aa:bb:cc:dd:{i // 256:02x}:{i % 256:02x}",
                                           f"10.0.{i // 256}.{i % 256}"))
        except OtpRefused as exc:
            errors.append(exc.code)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(issued) <= 7 and set(errors) == {"global_budget"}
    assert len(issued) + len(errors) == 30


def test_blocklist_phone_and_mac(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock)
    block = Blocklist(redis_client, clock=clock)
    block.block("phone", PHONE, "abuse")
    err = refused(svc.request_code, PHONE, MAC, IP)
    assert (err.code, err.retry_after) == ("blocked", 0)
    block.block("mac", MAC, "abuse", ttl=600)
    err = refused(svc.request_code, "18900000001", "aa:bb:cc:dd:ee:01", IP)
    assert (err.code, err.retry_after) == ("blocked", 600)
    assert not redis_client.keys("*otpn*")              # nothing reserved for blocked requests
    clock.now += 601
    svc.request_code("18900000001", MAC, IP)


def test_invalid_number_and_device(redis_client: Any) -> None:
    svc = service(redis_client)
    assert refused(svc.request_code, "12345", MAC, IP).code == "invalid_number"
    assert refused(svc.request_code, PHONE, "", "").code == "no_device"
    assert refused(svc.request_code, PHONE, "not-a-mac", IP).code == "no_device"
    assert refused(svc.request_code, PHONE, "", "999.1.1.1").code == "no_device"


def test_number_policy_refusal_carries_its_messages(redis_client: Any) -> None:
    policy = build_number_policy(NumberPolicySettings(), redis_client)
    svc = OtpService(redis_client, LOOSE, KEY, policy=policy, clock=Clock())
    err = refused(svc.request_code, "13812345678", MAC, IP)
    assert err.code == "carrier_not_allowed" and "中国电信" in err.message_zh
    assert err.message("en") == err.message_en and err.message("zh") == err.message_zh
    assert not redis_client.keys("*otpn*")              # policy is checked before any SMS budget
    svc.request_code("18912345678", MAC, IP)


def test_policy_from_settings_with_lookup_cache(redis_client: Any, tmp_path: Path) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text("prefix,province,city\n1891234,四川,成都\n", encoding="utf-8")
    cfg = NumberPolicySettings(allowed_provinces=("四川",), region_table=str(csv), deny_list=("18900000000",))
    policy = build_number_policy(cfg, redis_client)
    assert policy.check("18912345678").number.city == "成都"
    cache = RedisLookupCache(redis_client)
    cache.set(PHONE, '{"carrier": "telecom"}', 30)
    assert cache.get(PHONE) == '{"carrier": "telecom"}'
    assert 0 < redis_client.ttl(keys.carrier_lookup(PHONE)) <= 30
    assert cache.get("18900000009") is None


def test_hmac_key_file_created_once(tmp_path: Path) -> None:
    cfg = OtpSettings()
    key = load_hmac_key(cfg, tmp_path)
    assert len(key) == 32 and load_hmac_key(cfg, tmp_path) == key
    assert (tmp_path / "otp-hmac.key").stat().st_mode & 0o777 == 0o600
    assert load_hmac_key(OtpSettings(hmac_key="x" * 20), tmp_path) == b"x" * 20


def test_different_key_cannot_verify(redis_client: Any) -> None:
    issued = service(redis_client).request_code(PHONE, MAC, IP)
    other = OtpService(redis_client, LOOSE, b"z" * 32, clock=Clock())
    with pytest.raises(OtpRejected):
        other.verify(PHONE, issued.code, MAC, IP)


# --- exactly once, retry tickets, observed source ---------------------------------------------

def test_one_code_verified_by_fifty_threads_wins_once(redis_client: Any) -> None:
    svc = service(redis_client, max_attempts=100)
    issued = svc.request_code(PHONE, MAC, IP)
    start = threading.Barrier(50)
    wins: list[str] = []
    refusals: list[str] = []

    def verify() -> None:
        start.wait(timeout=10)
        try:
            wins.append(svc.verify(PHONE, issued.code, MAC, IP, page="p").phone)
        except OtpRejected as exc:
            refusals.append(exc.code)

    threads = [threading.Thread(target=verify) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins == [PHONE] and set(refusals) == {"used"} and len(refusals) == 49


def test_retry_ticket_is_single_use_and_bound_to_device_page_and_code(redis_client: Any) -> None:
    clock = Clock()
    svc = service(redis_client, clock)
    issued = svc.request_code(PHONE, MAC, IP)
    verified = svc.verify(PHONE, issued.code, MAC, IP, page="page-1")
    assert rejected(svc, issued.code).code == "used"                  # no ticket yet: used
    assert svc.grant_retry(verified, "page-1")
    blob = b"".join(k + v for k, v in redis_client.hgetall(keys.otp_retry(PHONE)).items())
    assert b"page-1" not in blob and issued.code.encode() not in blob   # hashes only

    def retry(code: str = issued.code, mac: str = MAC, page: str = "page-1") -> OtpRejected:
        with pytest.raises(OtpRejected) as info:
            svc.verify(PHONE, code, mac, "10.9.9.9", page=page)
        return info.value

    assert retry(page="page-2").code == "used"                        # another page
    assert retry(mac="AA-BB-CC-DD-EE-02").code == "no_code"           # another device: told nothing
    assert retry(code=wrong(issued.code)).code == "wrong_code"        # another code
    again = svc.verify(PHONE, issued.code, MAC, IP, page="page-1")
    assert again.phone == PHONE and again.retry_until == verified.retry_until
    assert retry().code == "used"                                     # the ticket was used up
    # A ticket does not outlive the code's lifetime from its verification ...
    assert svc.grant_retry(again, "page-1")
    clock.now += 301
    assert retry().code in ("used", "expired")
    assert not svc.grant_retry(again, "page-1")
    # ... and a new code for the phone voids any ticket.
    clock.now += 100
    fresh = svc.request_code(PHONE, MAC, IP)
    v = svc.verify(PHONE, fresh.code, MAC, IP, page="p")
    assert svc.grant_retry(v, "p")
    clock.now += 61
    svc.request_code(PHONE, MAC, IP)
    assert not redis_client.exists(keys.otp_retry(PHONE))


def test_wrong_codes_on_a_retry_ticket_count_and_end_it(redis_client: Any) -> None:
    svc = service(redis_client, max_attempts=3)
    issued = svc.request_code(PHONE, MAC, IP)
    svc.grant_retry(svc.verify(PHONE, issued.code, MAC, IP, page="p"), "p")
    codes = []
    for _ in range(3):
        with pytest.raises(OtpRejected) as info:
            svc.verify(PHONE, wrong(issued.code), MAC, IP, page="p")
        codes.append((info.value.code, info.value.attempts_left))
    assert codes == [("wrong_code", 2), ("wrong_code", 1), ("too_many_attempts", 0)]
    with pytest.raises(OtpRejected) as info:
        svc.verify(PHONE, issued.code, MAC, IP, page="p")
    assert info.value.code == "used"


def test_codes_count_against_the_observed_source_whatever_device_is_claimed(redis_client: Any) -> None:
    svc = service(redis_client, per_source_hour=2)
    for i in range(2):
        svc.request_code(f"1890000000{i}", f"aa:bb:cc:dd:ee:0{i}", f"10.0.0.{i + 2}", source="192.0.2.7")
    err = refused(svc.request_code, "18900000009", "aa:bb:cc:dd:ee:09", "10.0.0.9", source="192.0.2.7")
    assert err.code == "ip_hourly_cap" and err.retry_after > 0
    # Refused requests reserved nothing; another observed address has its own budget.
    svc.request_code("18900000009", "aa:bb:cc:dd:ee:09", "10.0.0.9", source="192.0.2.8")
