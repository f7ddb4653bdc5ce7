"""`citywifi ac-login` / `ac-logout` run as real subprocesses against the fake AC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.constants import AttrType, PacketType
from tests.fakes.portal_ac import FakePortalAc, fake_ac

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-secret"


def cli(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    proc = subprocess.run([sys.executable, "-m", "portal.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    payload = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, payload, proc.stderr


@pytest.fixture
def ac() -> Iterator[FakePortalAc]:
    with fake_ac("huawei-v2", secret=SECRET.encode(), users={"13300000001": "123456"}) as fake:
        yield fake


def common(ac: FakePortalAc, *extra: str) -> list[str]:
    return ["--ac", f"127.0.0.1:{ac.port}", "--flavour", "huawei-v2", "--secret", SECRET,
            "--user-ip", "10.0.0.5", *extra]


def test_login_then_logout(ac: FakePortalAc) -> None:
    rc, out, err = cli("ac-login", *common(ac, "--username", "13300000001", "--password", "123456",
                                           "--mac", "aa:bb:cc:dd:ee:ff", "--info"))
    assert rc == 0, err
    assert out is not None
    assert out["ok"] is True and out["err_code"] == 0 and out["text"] == "welcome 13300000001"
    assert out["req_id"] == ac.of_type(PacketType.REQ_AUTH)[0].packet.req_id != 0
    assert set(out["timings"]) == {"challenge", "auth", "total"} and out["timed_out"] is False
    assert out["info"]["ok"] is True and out["message_zh"] and out["ac"] == f"127.0.0.1:{ac.port}"
    assert ac.online == {"10.0.0.5": "13300000001"}
    chal = ac.of_type(PacketType.REQ_CHALLENGE)[0].packet
    assert chal.get(AttrType.USER_MAC) == bytes.fromhex("aabbccddeeff")
    assert chal.get(AttrType.BAS_IP) == bytes([127, 0, 0, 1])
    rc, out, err = cli("ac-logout", *common(ac))
    assert rc == 0, err
    assert out is not None and out["ok"] is True and out["err_code"] == 0 and ac.online == {}
    rc, out, _ = cli("ac-logout", *common(ac))
    assert rc == 0 and out is not None and out["already_offline"] is True and out["err_code"] == 3


def test_rejected_login_exits_1(ac: FakePortalAc) -> None:
    rc, out, _ = cli("ac-login", *common(ac, "--username", "13300000001", "--password", "nope", "--pap"))
    assert rc == 1 and out is not None
    assert out["ok"] is False and out["err_code"] == 1 and "bad password" in out["text"]
    (auth,) = ac.of_type(PacketType.REQ_AUTH)
    assert auth.packet.pap_chap == 1 and auth.packet.get(AttrType.PASSWORD) == b"nope"


def test_silent_ac_exits_1_with_diagnostic(ac: FakePortalAc) -> None:
    ac.faults.silent = True
    rc, out, _ = cli("ac-login", *common(ac, "--username", "u", "--password", "p",
                                         "--timeout", "0.2", "--retries", "2"))
    assert rc == 1 and out is not None
    assert out["timed_out"] is True and out["err_code"] is None and out["ok"] is False
    assert "wrong shared secret" in out["diagnostic"]
    assert len(ac.of_type(PacketType.REQ_CHALLENGE)) == 2
    assert ac.wait_for(lambda rs: any(r.packet.type == PacketType.REQ_LOGOUT for r in rs))
    assert ac.of_type(PacketType.REQ_LOGOUT)[0].packet.err_code == 1


def test_verbose_prints_packets_on_stderr(ac: FakePortalAc) -> None:
    rc, out, err = cli("ac-login", *common(ac, "--username", "13300000001", "--password", "123456",
                                           "--verbose"))
    assert rc == 0 and out is not None and out["ok"]
    lines = err.splitlines()
    assert any(line.startswith("-> ") and "REQ_CHALLENGE" in line for line in lines)
    assert any(line.startswith("<- ") and "ACK_AUTH" in line and "err=0" in line for line in lines)
    sent = ac.of_type(PacketType.REQ_CHALLENGE)[0].raw.hex()
    assert any(line.strip() == sent for line in lines)


def test_hanming_flavour_puts_mac_in_attr_ff() -> None:
    with fake_ac("hanming", users={"u": "p"}) as ac:
        rc, out, _ = cli("ac-login", "--ac", f"127.0.0.1:{ac.port}", "--flavour", "hanming",
                         "--user-ip", "10.0.0.9", "--username", "u", "--password", "p",
                         "--mac", "AA-BB-CC-00-11-22")
        assert rc == 0 and out is not None and out["ok"] and out["flavour"] == "hanming"
        auth = ac.of_type(PacketType.REQ_AUTH)[0].packet
        assert auth.get(AttrType.HANMING_MAC) == bytes.fromhex("aabbcc001122")


@pytest.mark.parametrize("bad", [["--user-ip", "not-an-ip"], ["--retries", "0"], ["--mac", "xx"]])
def test_bad_arguments_exit_2(ac: FakePortalAc, bad: list[str]) -> None:
    args = common(ac, "--username", "u", "--password", "p")
    rc, out, err = cli("ac-login", *args, *bad)
    assert rc == 2 and out is None and "citywifi ac-login" in err
