"""A stranger must not be able to fill Redis through the console sign-in.

``/login`` accepted a username of any length (up to the 64 KB body limit) and stored it in the
failure-counter key names and in the audit entry, even once the address was locked out:
64 attempts added 18 MB. Now every user-supplied field is bounded before it is stored or used
in a key, a locked-out attempt is counted without storing what it sent, and audit entries are
capped. Measured on the real Redis: the bytes held by keys (MEMORY USAGE, key names included)
and ``used_memory``, before and after a burst.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from tests.portal.web.consolekit import create_account, csrf, make_app

BURST = 64
# What a handful of failure counters and one capped audit entry may cost, per request, on
# average over the burst (the first ones are counted, the locked-out rest store nothing).
PER_REQUEST_BUDGET = 1024


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def _held(redis: Any) -> tuple[int, int, int]:
    """(bytes held by all keys, longest key name, largest single key)."""
    total = longest = largest = 0
    for key in redis.scan_iter(count=1000):
        size = int(redis.memory_usage(key, samples=0) or 0)
        total += size
        longest = max(longest, len(key))
        largest = max(largest, size)
    return total, longest, largest


def _used_memory(redis: Any) -> int:
    return int(redis.info("memory")["used_memory"])


def test_a_burst_of_huge_usernames_stores_almost_nothing(app: Flask, redis_client: Any) -> None:
    create_account(redis_client, "admin", Role.ADMIN)
    client = app.test_client()
    token = csrf(client, "/login")
    before, _, _ = _held(redis_client)
    used_before = _used_memory(redis_client)
    statuses = []
    for i in range(BURST):
        username = f"{i:04d}" + "A" * 60_000      # fits the 64 KB body limit
        resp = client.post("/login", data={"username": username, "password": "x" * 3000, "csrf_token": token,
                                           "next": "/" + "n" * 2000})
        statuses.append(resp.status_code)
    assert set(statuses) <= {401, 429} and 429 in statuses      # refused, then locked out
    after, longest_key, largest_key = _held(redis_client)
    grown = after - before
    print(f"{BURST} huge failed sign-ins stored {grown} bytes")
    assert grown < BURST * PER_REQUEST_BUDGET, f"{grown} bytes stored by {BURST} failed sign-ins"
    assert longest_key < 200, f"a key name of {longest_key} bytes"
    assert largest_key < 64 * 1024, f"one key holds {largest_key} bytes"
    assert _used_memory(redis_client) - used_before < 2 * 1024 * 1024
    # The audit trail still says what happened, in bounded entries.
    entries = AuditLog(redis_client).recent(200, area="account")
    assert entries and all(len(e.actor) <= 200 and len(e.target) <= 200 for e in entries)
    assert any(e.action == "login.failed" for e in entries)


def test_locked_out_attempts_are_counted_not_stored(app: Flask, redis_client: Any) -> None:
    """Once an address is locked out, further attempts (any username) add no key and no audit
    entry; they only bump one counter."""
    client = app.test_client()
    token = csrf(client, "/login")
    for i in range(30):                         # past max_failures_per_address (20)
        client.post("/login", data={"username": f"user{i}", "password": "wrong-password",
                                    "csrf_token": token})
    keys_before = set(redis_client.scan_iter(count=1000))
    held_before, _, _ = _held(redis_client)
    audit_before = redis_client.xlen("cw:{audit}:log")
    for i in range(50):
        resp = client.post("/login", data={"username": f"fresh{i}-" + "B" * 30_000, "password": "p",
                                           "csrf_token": token})
        assert resp.status_code == 429
    assert set(redis_client.scan_iter(count=1000)) == keys_before
    assert redis_client.xlen("cw:{audit}:log") == audit_before
    held_after, _, _ = _held(redis_client)
    assert held_after - held_before < 256


def test_the_owner_still_signs_in_from_elsewhere(app: Flask, redis_client: Any) -> None:
    """Bounding must not break the lockout's purpose: the stranger's address is locked, the real
    administrator at another desk is not."""
    _, password = create_account(redis_client, "admin", Role.ADMIN)
    stranger = app.test_client()
    token = csrf(stranger, "/login")
    for _ in range(10):
        stranger.post("/login", data={"username": "admin" + "A" * 5000, "password": "x", "csrf_token": token})
        stranger.post("/login", data={"username": "admin", "password": "wrong-password", "csrf_token": token})
    desk = app.test_client()
    desk.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    token = csrf(desk, "/login")
    resp = desk.post("/login", data={"username": "admin", "password": password, "csrf_token": token})
    assert resp.status_code == 302


def test_a_distributed_guess_cannot_grow_the_audit_log_at_will(redis_client: Any, data_dir: Path) -> None:
    """Many addresses, each under its own lockout limit: failed sign-ins are audited up to the
    fleet-wide per-minute cap, the rest only counted."""
    import dataclasses

    from portal.state import keys
    from portal.web import create_app
    from tests.portal.web.consolekit import make_settings

    settings = make_settings(data_dir)
    settings = dataclasses.replace(settings, console=dataclasses.replace(
        settings.console, failed_sign_in_audit_per_minute=5))
    app = create_app(settings, redis_client)
    for i in range(20):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"
        token = csrf(client, "/login")
        resp = client.post("/login", data={"username": f"guess{i}", "password": "x", "csrf_token": token})
        assert resp.status_code == 401
    audited = [e for e in AuditLog(redis_client).recent(100, area="account") if e.action == "login.failed"]
    assert len(audited) <= 2 * 5           # the minute may turn once during the burst
    assert len(audited) + int(redis_client.get(keys.console_unaudited_failures()) or 0) == 20
