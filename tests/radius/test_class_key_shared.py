"""The RADIUS Class key is the same on every node without any setting.

The Class of an Access-Accept is signed, and accounting books a session only under a Class that
verifies; an AC's accounting may reach another RADIUS node than its login did. With
``radius.class_key`` unset, each node used to make its own ``data_dir/radius-class.key``, so
accounting through a second node was refused. Now the key is made once in Redis (SET NX) and
read by every node; a configured key still wins."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from pyrad.packet import AccessAccept, AccountingResponse

from portal.aaa.credentials import CredentialStore
from portal.aaa.sessions import SessionRegistry
from portal.runtime.keyfiles import shared_key
from portal.state import keys
from tests.conftest import free_udp_port
from tests.radius.serverkit import (
    MAC,
    PHONE,
    access_request,
    acct_request,
    decode_reply,
    exchange,
    register,
)
from tests.radius.test_server_workers import start, wait_alive


def test_login_on_one_node_accounting_on_another(redis_client: Any, redis_url: str,
                                                 tmp_path: Path) -> None:
    register(redis_client)
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    nodes = []
    try:
        for name in ("a", "b"):
            auth, acct = free_udp_port(), free_udp_port()
            proc = start(redis_url, auth, acct, workers=1,
                         CITYWIFI_DATA_DIR=str(tmp_path / f"node-{name}"))
            nodes.append((proc, auth, acct))
        for _, auth, _ in nodes:
            wait_alive(auth)
        (_, auth_a, _), (_, _, acct_b) = nodes
        req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
        raw = exchange(auth_a, req.RequestPacket(), timeout=2)
        assert raw is not None
        accept = decode_reply(req, raw)
        assert accept.code == AccessAccept
        (cls,) = accept["Class"]

        start_rec: Any = acct_request(Acct_Status_Type="Start", Acct_Session_Id="X1", User_Name=PHONE,
                                      NAS_IP_Address="127.0.0.1", Calling_Station_Id=MAC,
                                      Framed_IP_Address="10.9.0.1", Class=cls)
        reply = exchange(acct_b, start_rec.RequestPacket(), timeout=2)
        assert reply is not None and reply[0] == AccountingResponse
        session = SessionRegistry(redis_client).get("ac1", "X1")
        assert session is not None and session.phone == PHONE
        kinds = [f[b"k"] for _, f in redis_client.xrange(keys.acct_log())]
        assert kinds == [b"acct"], kinds                     # booked, not refused
        assert redis_client.exists(keys.shared_key("radius-class.key"))
        assert not any((tmp_path / f"node-{n}" / "radius-class.key").exists() for n in "ab")
    finally:
        for proc, _, _ in nodes:
            proc.terminate()
            proc.wait(15)


def test_shared_key_is_made_once_kept_from_a_local_file_and_overridden_by_settings(
        redis_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "radius-class.key").write_text("ab" * 32 + "\n")        # made by an older release
    # The first node publishes its file's key (Classes it signed before still verify) ...
    assert shared_key(redis_client, old, "radius-class.key") == bytes.fromhex("ab" * 32)
    # ... every other node reads that one, whatever its own file says (with a warning).
    other = tmp_path / "other"
    other.mkdir()
    (other / "radius-class.key").write_text("cd" * 32)
    with caplog.at_level(logging.WARNING, logger="portal.runtime.keyfiles"):
        assert shared_key(redis_client, other, "radius-class.key") == bytes.fromhex("ab" * 32)
    assert "differs from the key every node shares" in caplog.text
    # A configured key wins (and Redis is not consulted).
    assert shared_key(None, other, "radius-class.key", "configured-key-0123456789") == \
        b"configured-key-0123456789"
    # Nodes starting at once agree on one random key.
    redis_client.delete(keys.shared_key("fresh.key"))
    got: list[bytes] = []
    threads = [threading.Thread(target=lambda: got.append(
        shared_key(redis_client, tmp_path / "none", "fresh.key"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1 and len(got[0]) == 32
