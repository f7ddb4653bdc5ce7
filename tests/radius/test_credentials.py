"""portal.aaa.credentials: minting and checking login tokens and per-MAC credentials on real Redis."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest

from portal.aaa.credentials import (
    CredentialStore,
    Identity,
    InvalidCredential,
    ReusedCredential,
)
from portal.errors import ValidationError
from portal.state import keys

PHONE = "13800138000"
MAC = "AA-BB-CC-DD-EE-01"
NORM = "aa:bb:cc:dd:ee:01"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def chap(secret: str, challenge: bytes, ident: int = 7) -> bytes:
    return bytes([ident]) + hashlib.md5(bytes([ident]) + secret.encode() + challenge).digest()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(redis_client: Any, clock: Clock) -> CredentialStore:
    return CredentialStore(redis_client, clock=clock)


def test_token_pap_accepts_once_then_reports_reuse(store: CredentialStore) -> None:
    cred = store.mint_login_token("+86 138-0013-8000")
    assert cred.username == PHONE and len(cred.password) == 16
    assert store.check_pap(PHONE, cred.password, MAC) == Identity(PHONE, NORM, "token")
    with pytest.raises(ReusedCredential) as err:
        store.check_pap(PHONE, cred.password, MAC)
    assert err.value.code == "reused_credential"


def test_token_wrong_password_is_invalid_and_keeps_token(store: CredentialStore) -> None:
    cred = store.mint_login_token(PHONE)
    with pytest.raises(InvalidCredential) as err:
        store.check_pap(PHONE, "not-the-token", None)
    assert err.value.code == "invalid_credential"
    assert store.check_pap(PHONE, cred.password, None).kind == "token"


def test_token_expires(store: CredentialStore, clock: Clock) -> None:
    cred = store.mint_login_token(PHONE, ttl=60)
    clock.t += 61
    with pytest.raises(InvalidCredential):
        store.check_pap(PHONE, cred.password, None)


def test_token_for_other_phone_is_invalid(store: CredentialStore) -> None:
    cred = store.mint_login_token(PHONE)
    with pytest.raises(InvalidCredential):
        store.check_pap("13900139000", cred.password, None)
    with pytest.raises(InvalidCredential):
        store.check_pap("not-a-phone", cred.password, None)


def test_token_bound_to_mac_rejects_other_device_without_burning(store: CredentialStore) -> None:
    cred = store.mint_login_token(PHONE, mac=MAC)
    with pytest.raises(InvalidCredential):
        store.check_pap(PHONE, cred.password, "11:22:33:44:55:66")
    assert store.check_pap(PHONE, cred.password, "aabb.ccdd.ee01").kind == "token"


def test_token_chap_once(store: CredentialStore) -> None:
    cred = store.mint_login_token(PHONE)
    other = store.mint_login_token(PHONE)
    challenge = bytes(range(16))
    ident = store.check_chap(PHONE, chap(cred.password, challenge), challenge, MAC)
    assert ident == Identity(PHONE, NORM, "token")
    with pytest.raises(ReusedCredential):
        store.check_chap(PHONE, chap(cred.password, challenge), challenge, MAC)
    # The other token is untouched.
    assert store.check_chap(PHONE, chap(other.password, b"x" * 16), b"x" * 16, None).kind == "token"


def test_chap_wrong_response_and_bad_length(store: CredentialStore) -> None:
    store.mint_login_token(PHONE)
    with pytest.raises(InvalidCredential):
        store.check_chap(PHONE, chap("guess", b"c" * 16), b"c" * 16, None)
    with pytest.raises(InvalidCredential):
        store.check_chap(PHONE, b"\x01" * 5, b"c" * 16, None)


def test_concurrent_consumption_has_one_winner(redis_client: Any, redis_url: str) -> None:
    import redis as redislib

    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    wins: list[str] = []
    fails: list[str] = []

    def attempt() -> None:
        client = redislib.Redis.from_url(redis_url)
        try:
            CredentialStore(client).check_pap(PHONE, cred.password, None)
            wins.append("ok")
        except ReusedCredential:
            fails.append("reused")
        finally:
            client.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins == ["ok"] and len(fails) == 7


def test_mac_credential_pap_chap_and_binding_checks(store: CredentialStore, clock: Clock) -> None:
    cred = store.bind_mac(MAC, PHONE, days=30)
    assert cred.username == PHONE
    assert store.binding_for_mac("aabbccddee01") == (PHONE, clock.t + 30 * 86400)
    assert store.mac_credential(MAC) == cred
    # Reusable, any number of times, only from the bound device.
    for _ in range(3):
        assert store.check_pap(PHONE, cred.password, MAC) == Identity(PHONE, NORM, "mac_credential")
    challenge = b"\x11" * 16
    assert store.check_chap(PHONE, chap(cred.password, challenge), challenge, MAC).kind == "mac_credential"
    with pytest.raises(InvalidCredential):
        store.check_pap(PHONE, cred.password, "11-22-33-44-55-66")
    with pytest.raises(InvalidCredential):
        store.check_pap(PHONE, cred.password, None)
    with pytest.raises(InvalidCredential):
        store.check_pap("13900139000", cred.password, MAC)
    # Expiry.
    clock.t += 31 * 86400
    with pytest.raises(InvalidCredential):
        store.check_pap(PHONE, cred.password, MAC)
    assert store.binding_for_mac(MAC) is None


def test_rebind_keeps_secret_for_same_phone_and_rotates_for_new_phone(
    store: CredentialStore, redis_client: Any
) -> None:
    first = store.bind_mac(MAC, PHONE, days=1)
    again = store.bind_mac(MAC, PHONE, days=7)
    assert again.password == first.password
    moved = store.bind_mac(MAC, "13900139000", days=7)
    assert moved.password != first.password
    assert store.macs_for_phone(PHONE) == []
    assert store.macs_for_phone("13900139000") == [NORM]
    with pytest.raises(InvalidCredential):
        store.check_pap(PHONE, first.password, MAC)
    assert redis_client.ttl(keys.mac_binding(NORM)) > 6 * 86400


def test_mac_auth_and_unbind(store: CredentialStore) -> None:
    with pytest.raises(InvalidCredential):
        store.check_mac_auth(MAC)
    store.bind_mac(MAC, PHONE, days=1)
    assert store.check_mac_auth("AABBCCDDEE01") == Identity(PHONE, NORM, "mac_auth")
    with pytest.raises(InvalidCredential):
        store.check_mac_auth("not a mac")
    assert store.unbind_mac(MAC) is True
    assert store.unbind_mac(MAC) is False
    with pytest.raises(InvalidCredential):
        store.check_mac_auth(MAC)


def test_mint_validates(store: CredentialStore) -> None:
    with pytest.raises(ValidationError):
        store.mint_login_token("abc")
    with pytest.raises(ValidationError):
        store.mint_login_token(PHONE, ttl=0)
    with pytest.raises(ValidationError):
        store.bind_mac("zz", PHONE, days=1)
