"""deploy/: systemd units verify (systemd-analyze) and carry the required keys, nginx -t passes
on the nginx config, the Redis configs start a real redis-server / sentinel with the intended
persistence and eviction settings, and gunicorn.conf.py gives citywifi web's options."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import free_tcp_port
from tests.deploy.shipped_redis import TEST_PASSWORD, redis_binary, shipped_config, start_redis, stop_redis

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ["citywifi-web.service", "citywifi-radius.service", "citywifi-ac-listener.service",
         "citywifi-sms-worker.service"]
SUBCOMMAND = {"citywifi-web.service": "web", "citywifi-radius.service": "radius",
              "citywifi-ac-listener.service": "ac-listener", "citywifi-sms-worker.service": "sms-worker"}


def _parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Strict INI parse: sections, keys, repeated keys kept in order; any junk line fails."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: {raw!r}"
        key, _, value = line.partition("=")
        assert key.strip() and key.strip().isidentifier(), f"{path.name}:{number}: bad key {key!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("name", UNITS)
def test_unit_has_the_required_keys(name: str) -> None:
    unit = _parse_unit(DEPLOY / "systemd" / name)
    assert set(unit) == {"Unit", "Service", "Install"}
    svc = unit["Service"]
    one = {k: v[-1] for k, v in svc.items()}
    assert one["ExecStart"].split()[:2] == ["/opt/citywifi/venv/bin/citywifi", SUBCOMMAND[name]]
    assert one["Restart"] == "on-failure" and float(one["RestartSec"]) > 0
    assert "-/etc/citywifi/citywifi.env" in svc["EnvironmentFile"]
    assert one["User"] == "citywifi"
    assert one["KillSignal"] == "SIGTERM" and int(one["TimeoutStopSec"]) >= 10
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("ReadWritePaths", "/var/lib/citywifi")):
        assert one[key] == value, key
    # No port below 1024 is bound by any of them (RADIUS 1812 is unprivileged): no capability.
    assert one["CapabilityBoundingSet"] == "" and one["AmbientCapabilities"] == ""
    assert "CITYWIFI_CONFIG=/etc/citywifi/citywifi.toml" in svc["Environment"]
    assert unit["Install"]["WantedBy"] == ["citywifi.target"]
    assert unit["Unit"]["PartOf"] == ["citywifi.target"]


def test_web_stop_timeout_covers_gunicorn_graceful_timeout() -> None:
    from portal.commands.web import graceful_timeout
    from portal.runtime.settings import Settings

    unit = _parse_unit(DEPLOY / "systemd" / "citywifi-web.service")
    assert int(unit["Service"]["TimeoutStopSec"][-1]) > graceful_timeout(Settings()) + 5


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    # The units name the production path of citywifi; verify checks that it is executable,
    # so point them at the one installed here.
    citywifi = shutil.which("citywifi") or sys.executable
    for path in (DEPLOY / "systemd").iterdir():
        text = path.read_text(encoding="utf-8").replace("/opt/citywifi/venv/bin/citywifi", citywifi)
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    files = [str(tmp_path / p) for p in [*UNITS, "citywifi.target"]]
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *files], capture_output=True,
                          text=True, timeout=60)
    ours = [line for line in proc.stderr.splitlines() if "citywifi" in line]
    assert proc.returncode == 0 and not ours, proc.stderr
    # Hardening: systemd's own exposure score (0 safe … 10 exposed) stays at or below 2.5.
    for unit in UNITS:
        sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=25",
                              str(tmp_path / unit)], capture_output=True, text=True, timeout=60)
        assert sec.returncode == 0, sec.stdout[-2000:] + sec.stderr


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        pytest.skip("nginx not installed (scripts/test.sh installs nginx-light)")
    tls = tmp_path / "tls"
    tls.mkdir()
    _self_signed(tls / "console.crt", tls / "console.key")
    _self_signed(tls / "portal.crt", tls / "portal.key")
    proxy = tmp_path / "citywifi-proxy.conf"
    shutil.copy(DEPLOY / "nginx" / "citywifi-proxy.conf", proxy)
    site = (DEPLOY / "nginx" / "citywifi.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/citywifi/tls", str(tls)).replace("/etc/nginx/citywifi-proxy.conf", str(proxy))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n", encoding="utf-8")
    proc = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # The safety property the config exists for: the client address is overwritten, never appended.
    proxy_text = proxy.read_text(encoding="utf-8")
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in proxy_text
    directives = [line for line in proxy_text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("proxy_add_x_forwarded_for" in line for line in directives)


def _self_signed(cert_path: Path, key_path: Path) -> None:
    """A throwaway certificate for `nginx -t` (it loads the files named in the config)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "console.citywifi.example.cn")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


@pytest.mark.parametrize("conf", ["redis.conf", "cluster/redis-7001.conf"])
def test_redis_configs_start_with_aof_and_noeviction(conf: str, tmp_path: Path) -> None:
    # A cluster node also needs port + 10000 (its bus), so its port must be ≤ 55535.
    port = _free_port_block(1) + 1 if conf.startswith("cluster/") else free_tcp_port()
    copy = shipped_config(conf, tmp_path, port)
    argv = [redis_binary("redis-server"), str(copy), "--supervised", "no"]
    if conf.startswith("cluster/"):
        argv += ["--cluster-config-file", str(tmp_path / "nodes.conf")]
    proc = start_redis(argv, port)
    try:
        client = redis.Redis(port=port, decode_responses=True, password=TEST_PASSWORD)
        cfg = client.config_get("*")
        assert cfg["appendonly"] == "yes" and cfg["appendfsync"] == "everysec"
        assert cfg["maxmemory-policy"] == "noeviction"
        # A phone's session hash (JSON records of 160-250 bytes) stays a listpack (memory budget).
        assert int(cfg.get("hash-max-listpack-value") or cfg["hash-max-ziplist-value"]) >= 256
        # The session deadline index is a skip list at every size (no listpack scan per update).
        assert int(cfg.get("zset-max-listpack-entries") or cfg["zset-max-ziplist-entries"]) == 0
        if conf.startswith("cluster/"):
            assert client.info("cluster")["cluster_enabled"] == 1
    finally:
        stop_redis(proc)


def test_sentinel_config_monitors_the_citywifi_master(tmp_path: Path) -> None:
    port = free_tcp_port()
    conf = shipped_config("sentinel.conf", tmp_path, port)   # Sentinel rewrites its file: a copy
    proc = start_redis([redis_binary("redis-server"), str(conf), "--sentinel"], port)
    try:
        sentinel = redis.Redis(port=port, decode_responses=True, password=TEST_PASSWORD)
        masters: Any = sentinel.sentinel_masters()
        assert masters["citywifi"]["quorum"] == 2
        assert masters["citywifi"]["down-after-milliseconds"] == 5000
    finally:
        stop_redis(proc)


def test_gunicorn_conf_gives_citywifi_web_options() -> None:
    from portal.commands.web import gunicorn_options
    from portal.runtime.settings import Settings

    env = {"CITYWIFI_WEB_PORT": "8123", "CITYWIFI_WEB_WORKERS": "3",
           "CITYWIFI_WEB_PUBLIC_URL": "http://10.0.0.1"}
    code = ("import runpy, json; g = runpy.run_path('deploy/gunicorn.conf.py'); "
            "print(json.dumps({k: g[k] for k in ('bind', 'workers', 'threads', 'worker_class', "
            "'timeout', 'graceful_timeout', 'wsgi_app', 'forwarded_allow_ips', 'secure_scheme_headers')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60, check=True)
    import json

    got = json.loads(out.stdout)
    assert got["bind"] == "127.0.0.1:8123" and got["workers"] == 3     # loopback unless a proxy is set
    assert got["wsgi_app"] == "portal.commands.web:wsgi_from_environment()"
    expected = gunicorn_options(_ns(), Settings())
    assert got["graceful_timeout"] == expected["graceful_timeout"] >= 9 + 5
    assert got["timeout"] == expected["timeout"]
    # gunicorn believes no forwarding header itself (the app does, from web.trusted_proxies).
    assert got["forwarded_allow_ips"] == "" and got["secure_scheme_headers"] == {}


def _ns() -> Any:
    import argparse

    return argparse.Namespace(host=None, port=None, workers=None, threads=None)


def _free_port_block(count: int) -> int:
    """A base B such that B+1 … B+count and their cluster bus ports (+10000) are free."""
    import random
    import socket

    for _ in range(200):
        base = random.randrange(20000, 50000)
        ok = True
        for port in [p for i in range(1, count + 1) for p in (base + i, base + i + 10000)]:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


@pytest.mark.slow
def test_cluster_example_creates_three_masters_with_replicas(tmp_path: Path) -> None:
    from portal.runtime.settings import RedisSettings
    from portal.state import connect
    from portal.state.embedded import find_redis_server

    base = _free_port_block(6)
    env = dict(os.environ, PORT_BASE=str(base),
               PATH=str(Path(find_redis_server()).parent) + os.pathsep + os.environ.get("PATH", ""))
    try:
        proc = subprocess.run(["sh", str(DEPLOY / "redis" / "cluster" / "create-cluster.sh"), str(tmp_path)],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        password = (tmp_path / "citywifi-auth.conf").read_text().split()[1]
        node = redis.Redis(port=base + 1, decode_responses=True, password=password)
        deadline = time.monotonic() + 30
        while node.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, node.cluster("info")
            time.sleep(0.1)
        roles = [redis.Redis(port=base + i, decode_responses=True, password=password)
                 .info("replication")["role"]
                 for i in range(1, 7)]
        assert sorted(roles) == ["master"] * 3 + ["slave"] * 3
        # citywifi connects to it as the example says ([redis] url = one node, cluster = true).
        client = connect(RedisSettings(cluster=True), f"redis://:{password}@127.0.0.1:{base + 1}/0")
        client.set("{p:18900000001}:probe", "1")
        assert client.get("{p:18900000001}:probe") in (b"1", "1")
        client.close()
    finally:
        for i in range(1, 7):
            pidfile = tmp_path / str(base + i) / "redis.pid"
            if pidfile.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
