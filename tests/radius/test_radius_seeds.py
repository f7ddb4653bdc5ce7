"""``citywifi radius`` started alone (no listener, no `up`) seeds the ACs, plans and plan rules
of its settings file, so the first RADIUS node of a deployment answers its ACs at once instead of
dropping them as unknown clients until another process has seeded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyrad.packet import AccessAccept

from portal.aaa.acs import AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.aaa.plans import PlanStore
from tests.conftest import free_udp_port
from tests.radius.serverkit import MAC, PHONE, SECRET, access_request, decode_reply, exchange
from tests.radius.test_server_workers import wait_alive

ROOT = Path(__file__).resolve().parents[2]


def test_radius_alone_seeds_its_settings_and_answers(redis_client: Any, redis_url: str,
                                                     tmp_path: Path) -> None:
    config = tmp_path / "citywifi.toml"
    config.write_text(
        f'[[acs]]\nname = "seeded-ac"\naddresses = ["127.0.0.1"]\nvendor = "huawei-v2"\n'
        f'secret = "{SECRET}"\n\n'
        '[[plans]]\nname = "hall"\nup_kbps = 1024\ndown_kbps = 4096\nsession_timeout = 3600\n\n'
        '[[plan_rules]]\nscope = "default"\nplan = "hall"\n', encoding="utf-8")
    assert AcRegistry(redis_client).get_or_none("seeded-ac") is None
    cred = CredentialStore(redis_client).bind_mac(MAC, PHONE, days=1)
    auth, acct = free_udp_port(), free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYWIFI_")}
    env.update(CITYWIFI_REDIS_URL=redis_url, PYTHONPATH=str(ROOT), CITYWIFI_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "-c", str(config), "--log-level", "INFO", "radius",
         "--workers", "1", "--host", "127.0.0.1", "--auth-port", str(auth), "--acct-port", str(acct)],
        env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_alive(auth)
        req = access_request(User_Name=PHONE, password=cred.password, Calling_Station_Id=MAC)
        raw = exchange(auth, req.RequestPacket(), timeout=2)
        assert raw is not None
        reply = decode_reply(req, raw)
        assert reply.code == AccessAccept
        assert reply["Session-Timeout"] == [3600]
        assert reply["Huawei-Input-Average-Rate"] == [1024 * 1000]     # the seeded plan, bit/s
        assert reply["Huawei-Output-Average-Rate"] == [4096 * 1000]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "seeded from settings: ac:seeded-ac, plan:hall, rule:*" in out, out
    assert PlanStore(redis_client).get("hall").up_kbps == 1024
