"""Finding the running installation from the command line.

``redis.url`` (or Sentinel) when configured; else the embedded Redis that ``citywifi up`` runs
in ``data_dir`` — found by its unix socket, and used only if it answers. A command that finds
nothing says so and stops: it never starts a server of its own (a ``redis-server`` started "for
the duration of the command" would write an AOF next to, or instead of, the real one).
"""

from __future__ import annotations

import os
from pathlib import Path

import redis

from portal.runtime.settings import Settings
from portal.state.connection import StateUnavailable
from portal.state.texts import NO_INSTANCE

__all__ = ["NoInstance", "embedded_redis_dir", "embedded_socket_answers", "instance_redis_url"]


class NoInstance(StateUnavailable):
    """No Redis configured and no running ``citywifi up`` in ``data_dir``."""

    code = "no_instance"


def embedded_redis_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Where ``citywifi up`` keeps its embedded Redis (AOF, log, socket): absolute, so the
    ``unix://`` URL built from it never reads a relative first segment as a host name."""
    return Path(data_dir).resolve() / "redis"


def embedded_socket_answers(socket_path: Path, timeout: float = 1.0) -> bool:
    """True if a Redis answers PING on ``socket_path`` (False for a stale socket file)."""
    if not socket_path.exists():
        return False
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=timeout,
                         socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def instance_redis_url(settings: Settings, override: str | None = None) -> str:
    """The Redis URL a command should use: ``override`` (``--redis-url``), ``redis.url``, else
    the running embedded Redis of ``data_dir``. Sentinel setups return "" (the client is built
    from ``redis.sentinels``). Raises :class:`NoInstance` when nothing is running."""
    if override:
        return override
    if settings.redis.url or settings.redis.sentinels:
        return settings.redis.url
    sock = embedded_redis_dir(settings.data_dir) / "redis.sock"
    if embedded_socket_answers(sock):
        return f"unix://{sock}"
    data_dir = Path(settings.data_dir).resolve()
    raise NoInstance(NO_INSTANCE.format(data_dir=data_dir))
