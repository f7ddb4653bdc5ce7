"""The shipped Redis configs (deploy/redis), run here as an operator would: a copy with only
``dir`` and ``port`` changed and the password file it includes created."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import redis

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def redis_binary(name: str) -> str:
    from portal.state.embedded import find_redis_server

    server = find_redis_server()
    if name == "redis-server":
        return server
    return shutil.which(name) or server   # redis-server --sentinel works like redis-sentinel


AUTH_INCLUDES = {"/etc/redis/citywifi-auth.conf", "/etc/redis/citywifi-sentinel-auth.conf",
                 "/var/lib/redis-cluster/citywifi-auth.conf"}
TEST_PASSWORD = "deploy-test-password"


def shipped_config(name: str, tmp_path: Path, port: int, *, sentinel_password: str = TEST_PASSWORD) -> Path:
    """A copy of deploy/redis/<name> that runs here: ``dir`` and ``port`` rewritten, and the
    password file it includes created (the operator's step). Everything else as shipped."""
    text = (DEPLOY / "redis" / name).read_text(encoding="utf-8")
    text = re.sub(r"(?m)^dir .*$", f"dir {tmp_path}", text)   # `dir` chdirs while the file is read
    text = re.sub(r"(?m)^port .*$", f"port {port}", text)
    for include in re.findall(r"(?m)^include (\S+)$", text):
        assert include in AUTH_INCLUDES, include
        auth = tmp_path / Path(include).name
        if "sentinel" in include:
            auth.write_text(f"requirepass {sentinel_password}\nsentinel auth-pass citywifi {TEST_PASSWORD}\n")
        else:
            auth.write_text(f"requirepass {TEST_PASSWORD}\nmasterauth {TEST_PASSWORD}\n")
        text = text.replace(f"include {include}", f"include {auth}")
    copy = tmp_path / Path(name).name
    copy.write_text(text, encoding="utf-8")
    return copy


def start_redis(argv: list[str], port: int, password: str = TEST_PASSWORD) -> subprocess.Popen[bytes]:
    """Start ``argv`` and wait until it answers PING on ``port`` (authenticated)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, password=password)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.communicate()[0].decode(errors="replace")
                raise AssertionError(f"{argv} did not start: {out}") from None
            time.sleep(0.05)


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()
