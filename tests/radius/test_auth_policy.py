"""radius.auth through the real server: MAC authentication, quota refusals, CHAP-Challenge,
per-AC dialects, Reply-Message handling."""

from __future__ import annotations

import hashlib
from typing import Any

from pyrad.packet import AccessAccept, AccessReject

from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import PlanStore
from radius.auth import parse_ssid, reply_message_attrs
from tests.radius.serverkit import (
    MAC,
    PHONE,
    access_request,
    decode_reply,
    exchange,
    register,
    running_server,
)


def ask(port: int, req: Any) -> Any:
    raw = exchange(port, req.RequestPacket())
    assert raw is not None, "no reply"
    return decode_reply(req, raw)


def test_mac_authentication_only_when_ac_allows(redis_client: Any, redis_url: str) -> None:
    register(redis_client, mac_auth=True)
    CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    with running_server(redis_url) as srv:
        # Huawei MAC-priority: User-Name = MAC (any separator format), password = MAC.
        reply = ask(srv.auth_port, access_request(User_Name="112233445566", password="112233445566",
                                                  Calling_Station_Id=MAC))
        assert reply.code == AccessAccept
        assert reply["Class"][0].startswith(b"cw2|" + PHONE.encode())   # signed for ac1
        unbound = ask(srv.auth_port, access_request(User_Name="aa:bb:cc:00:00:01", password="x"))
        assert unbound.code == AccessReject
        # User-Name MAC must match Calling-Station-Id when both are present.
        spoof = ask(srv.auth_port, access_request(User_Name=MAC, password=MAC,
                                                  Calling_Station_Id="aa-bb-cc-00-00-01"))
        assert spoof.code == AccessReject
    register(redis_client, mac_auth=False)
    with running_server(redis_url) as srv:
        reply = ask(srv.auth_port, access_request(User_Name=MAC, password=MAC, Calling_Station_Id=MAC))
        assert reply.code == AccessReject
        assert srv.metrics.get("reject.invalid_credential") == 1


def test_mac_auth_password_check_option(redis_client: Any, redis_url: str) -> None:
    register(redis_client, mac_auth=True)
    CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    with running_server(redis_url, mac_auth_check_password=True) as srv:
        assert ask(srv.auth_port, access_request(User_Name=MAC, password="nope")).code == AccessReject
        assert ask(srv.auth_port, access_request(User_Name=MAC, password=MAC)).code == AccessAccept


def test_quota_refusal_reply_message_and_counter(redis_client: Any, redis_url: str) -> None:
    register(redis_client)
    PlanStore(redis_client).unassign("default")
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=3)
    with running_server(redis_url) as srv:
        reply = ask(srv.auth_port, access_request(User_Name=PHONE, password=cred.password,
                                                  Calling_Station_Id=MAC))
        assert reply.code == AccessReject
        assert reply["Reply-Message"] == ["当前网络暂无可用套餐 / No plan is available on this network."]
        assert srv.metrics.get("reject.no_plan") == 1


def test_chap_with_chap_challenge_attribute_and_h3c_dialect(redis_client: Any, redis_url: str) -> None:
    register(redis_client, vendor="h3c")
    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    challenge = b"0123456789abcdef"
    with running_server(redis_url) as srv:
        req = access_request(User_Name=PHONE, Calling_Station_Id=MAC, CHAP_Challenge=challenge,
                             Called_Station_Id="00-11-22-33-44-55:CityWiFi")
        req["CHAP-Password"] = b"\x05" + hashlib.md5(b"\x05" + cred.password.encode() + challenge).digest()
        reply = ask(srv.auth_port, req)
        assert reply.code == AccessAccept
        assert reply["H3C-Input-Average-Rate"] == [2_000_000]
        assert reply["H3C-Output-Average-Rate"] == [8_000_000]


def test_no_password_at_all_is_unsupported(redis_client: Any, redis_url: str) -> None:
    register(redis_client)
    with running_server(redis_url) as srv:
        reply = ask(srv.auth_port, access_request(User_Name=PHONE, EAP_Message=b"\x02\x01\x00\x05\x01"))
        assert reply.code == AccessReject
        assert srv.metrics.get("reject.unsupported_method") == 1
        reply = ask(srv.auth_port, access_request(password="x"))   # no User-Name
        assert reply.code == AccessReject


def test_parse_ssid_forms() -> None:
    assert parse_ssid("00-11-22-33-44-55:CityWiFi") == "CityWiFi"
    assert parse_ssid("00:11:22:33:44:55:City:WiFi") == "City:WiFi"
    assert parse_ssid("001122334455:Free") == "Free"
    assert parse_ssid("00-11-22-33-44-55") is None
    assert parse_ssid(None) is None
    assert parse_ssid("ap1:Guest") == "Guest"


def test_reply_message_split_on_character_boundaries() -> None:
    text = "套餐" * 100   # 600 octets of UTF-8
    parts = reply_message_attrs(text)
    assert all(len(v) <= 253 for _, v in parts)
    assert b"".join(v for _, v in parts).decode() == text


def test_batched_and_redis_py_paths_decide_alike(redis_client: Any, redis_url: str) -> None:
    """The one-round-trip path (RespClient) and redis-py fetch differently and decide alike."""
    import dataclasses

    from portal.aaa.acs import AcRegistry
    from portal.aaa.authorizer import Authorizer
    from portal.aaa.blocklist import Blocklist
    from radius import wire
    from radius.auth import AuthPolicy
    from radius.resp import RespClient
    from tests.radius.serverkit import SECRET

    register(redis_client)
    ac = AcRegistry(redis_client).get("ac1")
    store = CredentialStore(redis_client)
    bound = store.bind_mac(MAC, PHONE, days=3)
    now = 1_900_000_000.0
    fast = RespClient(redis_url)
    try:
        batched = AuthPolicy(redis_client, Authorizer(redis_client), fast=fast)
        plain = AuthPolicy(redis_client, Authorizer(redis_client))

        def both(make: Any) -> tuple[Any, Any]:
            out = []
            for policy in (batched, plain):
                pkt = make()
                req = wire.decode(pkt.RequestPacket())
                reply = policy.handle_auth(req, ac, SECRET.encode(), now)
                # Class carries a random nonce; compare everything else.
                attrs = tuple(a for a in reply.attrs if a[0] != 25)
                out.append((reply.code, reply.reason, attrs))
            return out[0], out[1]

        cases = [
            lambda: access_request(User_Name=PHONE, password=bound.password, Calling_Station_Id=MAC),
            lambda: access_request(User_Name=PHONE, password="wrong", Calling_Station_Id=MAC),
            lambda: access_request(User_Name=PHONE, password=store.mint_login_token(PHONE).password),
            lambda: access_request(User_Name="not-a-phone", password="x"),
        ]
        for make in cases:
            a, b = both(make)
            assert a == b
        Blocklist(redis_client).block("phone", PHONE, "x")
        a, b = both(cases[0])
        assert a == b and a[1] == "blocked"
        Blocklist(redis_client).unblock("phone", PHONE)
        PlanStore(redis_client).unassign("default")
        batched.authorizer.plans.invalidate()
        plain.authorizer.plans.invalidate()
        a, b = both(cases[0])
        assert a == b and a[1] == "no_plan"
        assert dataclasses.is_dataclass(ac)
    finally:
        fast.close()


def test_resp_client_errors_and_reconnect(redis_url: str, redis_client: Any) -> None:
    import pytest
    import redis as redislib

    from radius.resp import RespClient

    client = RespClient(redis_url)
    try:
        assert client.pipeline([("SET", "k", "v"), ("GET", "k"), ("HGETALL", "nope"), ("GET", "nope")]) == [
            b"OK", b"v", [], None]
        errs = client.pipeline([("INCR", "k")])
        assert isinstance(errs[0], redislib.ResponseError)
        sha = client.script("return ARGV[1]")
        redis_client.script_flush()
        assert client.pipeline([("EVALSHA", sha, 0, "hi")]) == [b"hi"]   # NOSCRIPT → loaded
        # Nested arrays from a script: nil holes, binary-safe values, an error reply in the
        # middle of a pipeline that does not disturb its neighbours.
        nested = client.script("return {{ARGV[1], false, {}}, {redis.call('HGETALL', 'nope')}}")
        value = bytes(range(256))
        assert client.pipeline([("EVALSHA", nested, 0, value), ("INCR", "k"), ("PING",)])[::2] == [
            [[value, None, []], [[]]], b"PONG"]
        redis_client.client_kill_filter(_type="normal", skipme=True)
        with pytest.raises(redislib.ConnectionError):
            client.pipeline([("PING",)])
        assert client.pipeline([("PING",)]) == [b"PONG"]                  # reconnected
    finally:
        client.close()
    dead = RespClient("redis://127.0.0.1:1", timeout=0.5)
    with pytest.raises(redislib.ConnectionError):
        dead.pipeline([("PING",)])
