"""ACs behind a trusted RADIUS proxy keep their own identity.

A record with ``radius_proxy = true`` (the proxy's address and secret) makes the server read the
real AC from NAS-IP-Address / NAS-Identifier; that AC must name the proxy in ``radius_via``.
The full server on loopback; requests built by pyrad (an independent encoder).
"""

from __future__ import annotations

from typing import Any

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.aaa.grants import ClassSigner
from portal.aaa.plans import Plan, PlanStore
from portal.state import keys
from radius.wire import Attr, Code
from tests.radius.serverkit import (
    CLASS_KEY,
    PHONE,
    SECRET,
    access_request,
    acct_request,
    exchange,
    running_server,
)

MAC = "02-11-22-33-44-55"


def setup(redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    registry.put(AcRecord(name="proxy1", addresses=("127.0.0.1",), secret=SECRET, radius_proxy=True))
    registry.put(AcRecord(name="ac-a", addresses=("127.0.0.21",), secret="secret-of-ac-a-1234",
                          radius_via="proxy1"))
    registry.put(AcRecord(name="ac-b", addresses=("127.0.0.22",), secret="secret-of-ac-b-1234",
                          radius_via="proxy1", vendor="h3c"))
    registry.put(AcRecord(name="ac-c", addresses=("127.0.0.23",), secret="secret-of-ac-c-1234"))
    store = PlanStore(redis_client)
    store.put(Plan(name="basic", session_timeout=7200, interim_interval=300))
    store.assign("default", "", "basic")


def class_of(reply: bytes) -> bytes:
    pos = 20
    while pos < len(reply):
        if reply[pos] == Attr.CLASS:
            return reply[pos + 2 : pos + reply[pos + 1]]
        pos += reply[pos + 1]
    raise AssertionError("no Class")


def login(port: int, redis_client: Any, **nas: str) -> bytes | None:
    token = CredentialStore(redis_client).mint_login_token(PHONE, mac=MAC)
    pkt = access_request(password=token.password, User_Name=PHONE, Calling_Station_Id=MAC, **nas)
    return exchange(port, bytes(pkt.RequestPacket()))


def test_requests_from_a_proxy_are_the_named_acs(redis_url: str, redis_client: Any) -> None:
    setup(redis_client)
    with running_server(redis_url) as srv:
        by_ip = login(srv.auth_port, redis_client, NAS_IP_Address="127.0.0.21")
        assert by_ip is not None and by_ip[0] == Code.ACCESS_ACCEPT
        # The Class is signed for the real AC, not for the proxy.
        signer = ClassSigner(CLASS_KEY.encode())
        assert signer.verify(class_of(by_ip), "ac-a") is not None
        assert signer.verify(class_of(by_ip), "proxy1") is None
        by_name = login(srv.auth_port, redis_client, NAS_Identifier="ac-b")
        assert by_name is not None and by_name[0] == Code.ACCESS_ACCEPT
        assert signer.verify(class_of(by_name), "ac-b") is not None
        # Accounting through the proxy lands on the real AC's session.
        start = acct_request(User_Name=PHONE, Acct_Status_Type="Start", Acct_Session_Id="px-1",
                             Calling_Station_Id=MAC, NAS_Identifier="ac-b", Class=class_of(by_name))
        assert exchange(srv.acct_port, bytes(start.RequestPacket())) is not None
        assert redis_client.hexists(keys.phone_sessions(PHONE), "ac-b|px-1")
        # An AC that did not choose this proxy, an unknown NAS, no NAS attribute: dropped.
        for nas in ({"NAS_IP_Address": "127.0.0.23"}, {"NAS_IP_Address": "127.0.0.99"},
                    {"NAS_Identifier": "ac-c"}, {}):
            assert login(srv.auth_port, redis_client, **nas) is None, nas
        assert srv.metrics.get("ac_drop.unknown_nas_behind_proxy.proxy1") == 4


def test_disconnect_through_the_proxy_names_the_real_nas(redis_client: Any) -> None:
    """dm_via_proxy: the Disconnect goes to the proxy (its address, coa_port, secret) and carries
    the real AC's identifiers, for the proxy to relay to that NAS."""
    from portal.aaa.sessions import OnlineSession, SessionRegistry
    from radius.enforcement import Enforcer
    from tests.fakes.dm_server import FakeDmServer

    proxy_secret = "proxy-dm-secret-12345"
    with FakeDmServer(proxy_secret.encode()) as dm:
        registry = AcRegistry(redis_client)
        registry.put(AcRecord(name="proxy1", addresses=("127.0.0.1",), secret=proxy_secret,
                              radius_proxy=True, coa_port=dm.port))
        real = AcRecord(name="ac-a", addresses=("127.0.0.21",), secret="secret-of-ac-a-1234",
                        radius_via="proxy1", dm_via_proxy=True, coa_port=9)
        registry.put(real)
        now = int(__import__("time").time())
        session = OnlineSession("ac-a", "px-9", PHONE, mac="02:11:22:33:44:55", ip="10.0.0.9",
                                started=now, updated=now, interim=300,
                                nas_ids=(("na", "127.0.0.21"), ("ni", "ac-a")))
        SessionRegistry(redis_client).open(session)
        result = Enforcer(redis_client, timeout=0.3, retries=2,
                          portal_logout=lambda *a: False).disconnect(session, "admin")
    assert result.ok and result.method == "dm", result
    assert dm.bad == 0 and len(dm.received) == 1
    assert dm.attr(0, "NAS-IP-Address") == "127.0.0.21"
    assert dm.attr(0, "Acct-Session-Id") == "px-9"
