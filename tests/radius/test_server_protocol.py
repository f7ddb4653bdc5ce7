"""Server protocol rules over real UDP with pyrad-built requests: RFC 5080 duplicates, unknown
clients, Message-Authenticator policy, Proxy-State, accounting dedup."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pyrad.packet import AccessAccept, AccessReject, AccountingResponse

from portal.aaa.acs import AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.state import keys
from tests.radius.serverkit import (
    MAC,
    PHONE,
    SECRET,
    RunningServer,
    access_request,
    acct_request,
    decode_reply,
    exchange,
    register,
    running_server,
)


@pytest.fixture
def server(redis_client: Any, redis_url: str) -> Iterator[RunningServer]:
    register(redis_client)
    with running_server(redis_url) as srv:
        yield srv


def test_retransmitted_token_request_gets_cached_accept_and_is_consumed_once(
    server: RunningServer, redis_client: Any
) -> None:
    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    raw = req.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        first = exchange(server.auth_port, raw, sock=sock)
        second = exchange(server.auth_port, raw, sock=sock)
    assert first is not None and second == first
    assert decode_reply(req, first).code == AccessAccept
    assert server.metrics.get("duplicate.replayed") == 1
    assert server.metrics.get("auth.accept") == 1            # processed once
    # A *new* request (new authenticator) with the same token from another device is a reuse;
    # from the same device it gets the first Accept again (the token replay window).
    other = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id="66-55-44-33-22-11")
    reply = exchange(server.auth_port, other.RequestPacket())
    assert reply is not None and decode_reply(other, reply).code == AccessReject
    again = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    reply = exchange(server.auth_port, again.RequestPacket())
    assert reply is not None and decode_reply(again, reply).code == AccessAccept
    assert decode_reply(again, reply)["Class"] == decode_reply(req, first)["Class"]
    assert server.metrics.get("token_replay") == 1


def test_same_key_different_bytes_is_not_answered_from_cache(
    server: RunningServer, redis_client: Any
) -> None:
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    raw = req.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        assert exchange(server.auth_port, raw, sock=sock) is not None
        # Same id + authenticator, tampered body: MA no longer verifies → dropped, cache untouched.
        tampered = raw[:-1] + bytes([raw[-1] ^ 1])
        assert exchange(server.auth_port, tampered, sock=sock, timeout=0.3) is None
    assert server.metrics.get("duplicate.replayed") == 0


def test_accounting_retransmission_is_acknowledged_without_reprocessing(server: RunningServer) -> None:
    req = acct_request(Acct_Status_Type=1, Acct_Session_Id="s-1", User_Name=PHONE,
                       Calling_Station_Id=MAC, NAS_IP_Address="127.0.0.1")
    raw = req.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        first = exchange(server.acct_port, raw, sock=sock)
        second = exchange(server.acct_port, raw, sock=sock)
    assert first is not None and first == second
    assert decode_reply(req, first).code == AccountingResponse
    assert server.metrics.get("acct.ok") == 1
    assert server.metrics.get("duplicate.replayed") == 1


def test_unknown_client_is_dropped_and_counted(server: RunningServer) -> None:
    req = access_request(User_Name=PHONE, password="x")
    assert exchange(server.auth_port, req.RequestPacket(), source="127.0.0.2", timeout=0.3) is None
    assert exchange(server.acct_port, acct_request(Acct_Status_Type=1).RequestPacket(),
                    source="127.0.0.2", timeout=0.3) is None
    assert server.metrics.get("drop.unknown_client") == 2


def test_disabled_ac_is_dropped(server: RunningServer, redis_client: Any) -> None:
    import dataclasses

    registry = AcRegistry(redis_client)
    registry.put(dataclasses.replace(registry.get("ac1"), enabled=False))
    req = access_request(User_Name=PHONE, password="x")
    assert exchange(server.auth_port, req.RequestPacket(), timeout=0.3) is None
    assert server.metrics.get("drop.ac_disabled") == 1


def test_missing_ma_allowed_for_old_hardware_but_not_with_proxy_state(
    redis_client: Any, redis_url: str
) -> None:
    register(redis_client, require_message_authenticator="no")
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    with running_server(redis_url) as srv:
        req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC, ma=False)
        reply = exchange(srv.auth_port, req.RequestPacket())
        assert reply is not None
        decoded = decode_reply(req, reply)
        assert decoded.code == AccessAccept
        assert reply[20] == 80        # MA first even when the request had none
        # BlastRADIUS shape: Proxy-State without Message-Authenticator → dropped.
        req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC,
                             ma=False, Proxy_State=b"hop1")
        assert exchange(srv.auth_port, req.RequestPacket(), timeout=0.3) is None
        assert srv.metrics.get("drop.proxy_state_without_ma") == 1


def test_proxy_state_copied_in_order(server: RunningServer, redis_client: Any) -> None:
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    req.AddAttribute("Proxy-State", b"first")
    req.AddAttribute("Proxy-State", b"second")
    reply = exchange(server.auth_port, req.RequestPacket())
    assert reply is not None
    decoded = decode_reply(req, reply)
    assert decoded["Proxy-State"] == [b"first", b"second"]


def test_blocked_phone_and_mac_are_rejected_with_message(server: RunningServer, redis_client: Any) -> None:
    from portal.aaa.blocklist import Blocklist

    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    Blocklist(redis_client).block("mac", MAC, "abuse", ttl=600)
    req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    reply = exchange(server.auth_port, req.RequestPacket())
    assert reply is not None
    decoded = decode_reply(req, reply)
    assert decoded.code == AccessReject
    assert "blocked" in decoded["Reply-Message"][0]
    assert server.metrics.get("reject.blocked") == 1
    redis_client.delete(keys.blocked_macs())
    Blocklist(redis_client).block("phone", PHONE, "fraud")
    req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
    reply = exchange(server.auth_port, req.RequestPacket())
    assert reply is not None and decode_reply(req, reply).code == AccessReject
    assert server.metrics.get("reject.blocked") == 2


def test_wrong_code_on_port_is_dropped(server: RunningServer) -> None:
    acct = acct_request(Acct_Status_Type=1).RequestPacket()
    assert exchange(server.auth_port, acct, timeout=0.3) is None
    auth = access_request(User_Name=PHONE, password="x").RequestPacket()
    assert exchange(server.acct_port, auth, timeout=0.3) is None
    assert server.metrics.get("drop.unexpected_code") == 2


def test_status_server_needs_valid_ma(server: RunningServer) -> None:
    from pyrad.packet import AuthPacket, StatusServer

    from tests.radius.serverkit import dictionary

    good = AuthPacket(code=StatusServer, secret=SECRET.encode(), dict=dictionary())
    good.add_message_authenticator()
    reply = exchange(server.auth_port, good.RequestPacket())
    assert reply is not None and decode_reply(good, reply).code == AccessAccept
    bad = AuthPacket(code=StatusServer, secret=b"other-secret-value", dict=dictionary())
    bad.add_message_authenticator()
    assert exchange(server.auth_port, bad.RequestPacket(), timeout=0.3) is None
