"""``citywifi ac-sim`` as a subprocess: starts, prints redirect URLs, logs users in, exits 0 on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.ac_adapters.sim_portal import MiniPortal
from tests.conftest import free_udp_port

ROOT = Path(__file__).resolve().parents[2]


def test_ac_sim_command(tmp_path: Path) -> None:
    port = free_udp_port()
    config = tmp_path / "citywifi.toml"
    config.write_text('[ac_sim]\nssid = "CityWiFi"\nuser_network = "10.77.0.0/24"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CITYWIFI_CONFIG": str(config)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from portal.cli import main; raise SystemExit(main())", "ac-sim",
         "--flavour", "cmcc", "--port", str(port), "--users", "12", "--coa-port", "0",
         "--local-user", "13800138000:123456", "--portal-url", "http://portal.test/p"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        problem = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        assert f"listening on udp 127.0.0.1:{port}" in header, header + problem
        lines = [proc.stdout.readline() for _ in range(11)]
        assert lines[-1].startswith("… and 2 more phones")
        url = re.search(r"redirect: (\S+)", lines[0])
        assert url is not None
        query = parse_qs(urlsplit(url.group(1)).query)
        assert urlsplit(url.group(1)).netloc == "portal.test"
        user_ip = query["wlanuserip"][0]
        assert user_ip.startswith("10.77.0.")
        assert query["wlanacip"] == ["127.0.0.1"] and query["ssid"] == ["CityWiFi"]
        portal = MiniPortal(port, "cmcc")
        try:
            ack = portal.login_chap(user_ip, "13800138000", "123456")
            assert ack is not None and ack.err_code == 0
        finally:
            portal.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopped (1 users were online" in out and "acct_stop=1" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
