"""Redis connections built from settings: redis://, rediss://, unix://, Sentinel, Cluster."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

import redis
import redis.cluster
import redis.sentinel

from portal.errors import CitywifiError
from portal.runtime.settings import RedisSettings, SettingsError

__all__ = ["STATE_ERRORS", "StateUnavailable", "connect", "redis_from_settings"]

log = logging.getLogger(__name__)


class StateUnavailable(CitywifiError):
    """Redis cannot be reached; callers must fail closed (never grant access without policy)."""

    code = "state_unavailable"


STATE_ERRORS: tuple[type[BaseException], ...] = (
    StateUnavailable, redis.RedisError, ConnectionError, TimeoutError,
)
"""What a failed shared-state read or write raises: our own verdict, a Redis client error, or
the socket error redis-py lets through. Every caller that must fail closed catches this tuple."""


def redis_from_settings(cfg: RedisSettings, url: str | None = None) -> Any:
    """Build a client (``redis.Redis`` or ``redis.cluster.RedisCluster``) without connecting.

    ``url`` overrides ``cfg.url`` (the embedded server's URL, decided at run time).
    """
    url = url if url is not None else cfg.url
    common: dict[str, Any] = {
        "socket_timeout": cfg.socket_timeout,
        "socket_connect_timeout": cfg.socket_timeout,
        "health_check_interval": 30,
        "decode_responses": False,
    }
    if cfg.sentinels:
        hosts = []
        for entry in cfg.sentinels:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError("redis.sentinels", f"expected host:port, got {entry!r}")
            hosts.append((host, int(port)))
        sentinel = redis.sentinel.Sentinel(
            hosts,
            sentinel_kwargs={"password": cfg.sentinel_password or None,
                             "socket_timeout": cfg.socket_timeout},
            **{k: v for k, v in common.items() if k != "health_check_interval"},
            **_master_credentials(url),
        )
        return sentinel.master_for(cfg.sentinel_master)
    if not url:
        raise SettingsError("redis.url", "no Redis URL configured and no embedded server started")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("redis.url", f"expected redis://, rediss:// or unix://, got {url!r}")
    if cfg.cluster:
        return redis.cluster.RedisCluster.from_url(
            url, socket_timeout=cfg.socket_timeout, socket_connect_timeout=cfg.socket_timeout
        )
    return redis.Redis.from_url(url, **common)


def _master_credentials(url: str) -> dict[str, Any]:
    """Sentinel mode: the user, password and db of the master (and replicas) from ``redis.url``
    (``redis://:PASSWORD@/0``); its host is ignored — the sentinels name the master."""
    if not url:
        return {}
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise SettingsError("redis.url", f"in Sentinel mode expected redis://[:PASSWORD]@/DB, got {url!r}")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise SettingsError("redis.url", f"database must be a number, got {db!r}")
    credentials: dict[str, Any] = {"db": int(db)}
    if parts.password is not None:
        credentials["password"] = urllib.parse.unquote(parts.password)
    if parts.username:
        credentials["username"] = urllib.parse.unquote(parts.username)
    if parts.scheme == "rediss":
        credentials["ssl"] = True
    return credentials


def connect(cfg: RedisSettings, url: str | None = None) -> Any:
    """Build a client and check it answers PING; raise StateUnavailable otherwise."""
    client = redis_from_settings(cfg, url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StateUnavailable(f"Redis at {url or cfg.url or cfg.sentinels} is unreachable: {exc}") from exc
    return client
