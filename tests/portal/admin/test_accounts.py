"""Console accounts, API tokens and the audit log on real Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from portal.admin.accounts import AccountLocked, AccountStore, BadCredentials, Role
from portal.admin.apitokens import ApiTokenStore
from portal.admin.audit import AuditLog, redact
from portal.errors import NotFound, ValidationError
from portal.state import keys


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_create_authenticate_and_roles(redis_client: Any) -> None:
    store = AccountStore(redis_client)
    admin = store.create("Alice", "correct horse battery", Role.ADMIN)
    venue = store.create("mall-op", "s3cret-enough-pw", "venue", ["mall-1", "mall-1", "mall-2"])
    assert admin.username == "alice" and admin.is_admin and admin.is_noc
    assert venue.venues == ("mall-1", "mall-2") and not venue.is_noc
    assert venue.can_see_venue("mall-1") and not venue.can_see_venue("station")
    assert admin.can_see_venue("anything")
    assert store.authenticate("ALICE ", "correct horse battery") == store.get("alice")
    stored = redis_client.hget(keys.console_account("alice"), "hash").decode()
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert [a.username for a in store.all()] == ["alice", "mall-op"]


@pytest.mark.parametrize("username,password", [
    ("bob", "short"), ("bob", "bob-password-123"), ("bob", "aaaaaaaaaaaa"), ("../x", "fine-password-1"),
    ("", "fine-password-1"),
])
def test_weak_passwords_and_bad_names_are_refused(redis_client: Any, username: str, password: str) -> None:
    with pytest.raises(ValidationError):
        AccountStore(redis_client).create(username, password, "admin")


def test_duplicate_username_and_bad_role(redis_client: Any) -> None:
    store = AccountStore(redis_client)
    store.create("carol", "first-password-1", "noc")
    with pytest.raises(ValidationError, match="taken"):
        store.create("carol", "second-password-2", "noc")
    with pytest.raises(ValidationError, match="role"):
        store.create("dave", "some-password-3", "root")
    with pytest.raises(ValidationError, match="venue id"):
        store.create("erin", "some-password-3", "venue", ["bad venue"])


def test_lockout_after_failures_and_unlock_by_time(redis_client: Any) -> None:
    store = AccountStore(redis_client, max_failures=3, lockout_seconds=2)
    store.create("frank", "lock-test-secret", "admin")
    for _ in range(2):
        with pytest.raises(BadCredentials):
            store.authenticate("frank", "wrong")
    with pytest.raises(AccountLocked):
        store.authenticate("frank", "wrong")
    # Locked: even the right password is refused until the lockout ends.
    with pytest.raises(AccountLocked) as info:
        store.authenticate("frank", "lock-test-secret")
    assert 1 <= info.value.retry_after <= 2
    redis_client.delete(keys.console_failures("frank"),       # the TTL ran out
                        keys.console_failures_from("frank", ""))
    assert store.authenticate("frank", "lock-test-secret").username == "frank"
    # A success resets this address's counter and takes its own attempt back.
    assert redis_client.get(keys.console_failures_from("frank", "")) is None
    assert int(redis_client.get(keys.console_failures("frank")) or 0) == 0


def test_a_stranger_guessing_does_not_lock_the_owner_out(redis_client: Any) -> None:
    store = AccountStore(redis_client, max_failures=3, max_failures_per_account=6,
                         max_failures_per_address=100, lockout_seconds=60)
    store.create("root", "owner-long-secret", "admin")
    for _ in range(2):
        with pytest.raises(BadCredentials):
            store.authenticate("root", "guess", "203.0.113.9")
    with pytest.raises(AccountLocked):
        store.authenticate("root", "guess", "203.0.113.9")
    with pytest.raises(AccountLocked):                        # that address: even the right one
        store.authenticate("root", "owner-long-secret", "203.0.113.9")
    assert store.authenticate("root", "owner-long-secret", "10.0.0.5").username == "root"
    # Guesses spread over many addresses add up: at 6 the account is locked for everyone.
    for i in range(3):
        with pytest.raises((BadCredentials, AccountLocked)):
            store.authenticate("root", "guess", f"198.51.100.{i}")
    with pytest.raises(AccountLocked):
        store.authenticate("root", "owner-long-secret", "10.0.0.5")
    # The owner's own sign-in did not reset the account-wide count; an admin reset does.
    store.set_password("root", "owner-new-long-secret")
    assert store.authenticate("root", "owner-new-long-secret", "10.0.0.5").username == "root"


def test_password_spraying_from_one_address_locks_that_address_out(redis_client: Any) -> None:
    store = AccountStore(redis_client, max_failures=5, max_failures_per_account=50,
                         max_failures_per_address=4, lockout_seconds=60)
    for name in ("ann", "ben", "cat"):
        store.create(name, f"long-secret-{len(name) * 7}-x", "noc")
    for name in ("ann", "ben", "cat", "ann"):                 # one wrong guess per account…
        with pytest.raises((BadCredentials, AccountLocked)):
            store.authenticate(name, "Summer2026!", "192.0.2.66")
    with pytest.raises(AccountLocked):                        # …adds up for the address
        store.authenticate("cat", "long-secret-21-x", "192.0.2.66")
    assert store.authenticate("cat", "long-secret-21-x", "192.0.2.7").username == "cat"


def test_unknown_and_disabled_accounts_look_like_wrong_passwords(redis_client: Any) -> None:
    store = AccountStore(redis_client)
    store.create("gina", "disabled-test-pw", "noc")
    store.update("gina", disabled=True)
    for name in ("gina", "nobody"):
        with pytest.raises(BadCredentials):
            store.authenticate(name, "disabled-test-pw")


def test_change_and_reset_password(redis_client: Any) -> None:
    store = AccountStore(redis_client)
    store.create("hank", "first-secret-1", "venue", ["v1"])
    with pytest.raises(BadCredentials):
        store.change_password("hank", "not-the-old-one", "second-secret-2")
    store.change_password("hank", "first-secret-1", "brand-new-secret-2")
    with pytest.raises(BadCredentials):
        store.authenticate("hank", "first-secret-1")
    store.set_password("hank", "admin-set-secret-3")
    assert store.authenticate("hank", "admin-set-secret-3").venues == ("v1",)
    changed = store.update("hank", role="noc", venues=[], display_name="Hank")
    assert changed.role is Role.NOC and changed.display_name == "Hank"
    store.delete("hank")
    assert store.get("hank") is None
    with pytest.raises(NotFound):
        store.update("hank", role="admin")


def test_api_tokens(redis_client: Any) -> None:
    clock = Clock()
    AccountStore(redis_client, clock=clock).create("alice", "Token-owner-pass-1x", Role.ADMIN)
    store = ApiTokenStore(redis_client, clock=clock)
    token, secret = store.create("billing", "read", "user:alice", expires_at=clock.t + 100)
    assert secret.startswith(f"cw_{token.id}_")
    stored = redis_client.hgetall(keys.api_token(token.id))
    assert secret.encode() not in b"".join(stored.values())      # only its hash is stored
    verified = store.verify(secret)
    assert verified is not None and verified.allows("read") and not verified.allows("write")
    assert store.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert store.verify("garbage") is None and store.verify("") is None
    clock.t += 101
    assert store.verify(secret) is None                           # expired
    writer, wsecret = store.create("ops", "write", "user:alice")
    assert store.verify(wsecret).allows("read")                   # type: ignore[union-attr]
    store.revoke(writer.id)
    assert store.verify(wsecret) is None
    assert [t.name for t in store.all()] == ["billing", "ops"]
    with pytest.raises(ValidationError):
        store.create("x", "root", "user:alice")
    _admin, asecret = store.create("root-ops", "admin", "user:alice")
    verified = store.verify(asecret)
    assert verified is not None and all(verified.allows(s) for s in ("read", "write", "admin"))
    assert not store.verify(wsecret) and not ApiTokenStore(redis_client).get(writer.id).allows("admin")  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.revoke("000000000000")


def test_audit_log_records_filters_and_redacts(redis_client: Any) -> None:
    clock = Clock()
    log = AuditLog(redis_client, clock=clock)
    for i in range(5):
        clock.t += 10
        log.record("user:alice", "noc" if i % 2 else "venue", "plan.update", f"plan-{i}",
                   {"rate": i}, {"rate": i + 1, "secret": "hunter2", "nested": [{"password": "x"}]},
                   "10.0.0.1")
    newest = log.recent(10)
    assert [e.target for e in newest] == ["plan-4", "plan-3", "plan-2", "plan-1", "plan-0"]
    assert newest[0].after == {"rate": 5, "secret": "***", "nested": [{"password": "***"}]}
    assert [e.target for e in log.recent(10, area="noc")] == ["plan-3", "plan-1"]
    assert [e.target for e in log.recent(10, target="plan-2")] == ["plan-2"]
    assert log.recent(10, actor="user:bob") == []
    # between() reads by stream time (when the entry was written), oldest first.
    real = AuditLog(redis_client)
    t0 = time.time()
    real.record("user:bob", "noc", "ac.update", "ac-1")
    time.sleep(0.01)
    t1 = time.time()
    real.record("user:bob", "noc", "ac.update", "ac-2")
    assert [e.target for e in real.between(t1, time.time() + 1)] == ["ac-2"]
    assert [e.target for e in real.between(t0 - 0.001, time.time() + 1)][-2:] == ["ac-1", "ac-2"]
    assert list(real.between(t0 - 100, t0 - 50)) == []
    assert redact({"radius_secret": "", "token_id": "abc"}) == {"radius_secret": "", "token_id": "***"}


def test_audit_recent_pages_past_one_batch(redis_client: Any) -> None:
    log = AuditLog(redis_client)
    pipe = redis_client.pipeline()
    for i in range(1200):
        pipe.xadd(keys.audit_log(), {"at": "1", "actor": "a", "area": "noc" if i == 3 else "venue",
                                     "action": "x", "target": str(i), "before": "null", "after": "null"})
    pipe.execute()
    found = log.recent(5, area="noc")
    assert [e.target for e in found] == ["3"]


def test_the_owners_failures_expire_while_strangers_keep_guessing(redis_client: Any) -> None:
    """Each (account, address) counter has its own lifetime: slow guessing from elsewhere does
    not keep the owner's old typos alive until they add up to a lockout."""
    import time

    store = AccountStore(redis_client, max_failures=5, max_failures_per_account=100,
                         lockout_seconds=2)
    store.create("admin", "Correct-Horse-Battery-9", "admin")
    for _ in range(4):                                        # the owner's typos at their desk
        with pytest.raises(BadCredentials):
            store.authenticate("admin", "typo", "10.0.0.1")
    for i in range(4):                                        # a stranger, slowly, elsewhere
        time.sleep(0.8)
        with pytest.raises(BadCredentials):
            store.authenticate("admin", "guess", f"198.51.100.{i}")
    with pytest.raises(BadCredentials):                       # the old typos have expired
        store.authenticate("admin", "typo", "10.0.0.1")
    assert store.authenticate("admin", "Correct-Horse-Battery-9", "10.0.0.1").username == "admin"


def test_parallel_guesses_cannot_slip_under_the_limit(redis_client: Any) -> None:
    """Attempts are counted before the (slow) password check: 16 guesses at once from one
    address get at most ``max_failures`` answers of "wrong password", the rest are locked."""
    from concurrent.futures import ThreadPoolExecutor

    store = AccountStore(redis_client, max_failures=3, lockout_seconds=60)
    store.create("root", "Correct-Horse-Battery-9", "admin")

    def guess(i: int) -> str:
        try:
            store.authenticate("root", f"guess-{i}", "203.0.113.5")
        except AccountLocked:
            return "locked"
        except BadCredentials:
            return "wrong"
        return "in"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(guess, range(16)))
    assert outcomes.count("in") == 0
    assert outcomes.count("wrong") <= 2 and outcomes.count("locked") >= 14, outcomes


def test_ipv6_guesses_count_per_slash_64(redis_client: Any) -> None:
    store = AccountStore(redis_client, max_failures=3, lockout_seconds=60)
    store.create("root", "Correct-Horse-Battery-9", "admin")
    for host in ("2001:db8:1:2::10", "2001:db8:1:2::11"):        # one subscriber's /64
        with pytest.raises(BadCredentials):
            store.authenticate("root", "guess", host)
    with pytest.raises(AccountLocked):
        store.authenticate("root", "guess", "2001:db8:1:2:ffff::1")
    assert store.authenticate("root", "Correct-Horse-Battery-9", "2001:db8:1:3::1").username == "root"
