"""The Redis state layer: connections, key names, and the stores built on them.

``keys`` is the only module that knows key names; everything else asks it.
"""

from portal.state.connection import STATE_ERRORS, StateUnavailable, connect, redis_from_settings
from portal.state.embedded import EmbeddedRedis, find_redis_server

__all__ = [
    "STATE_ERRORS",
    "EmbeddedRedis",
    "StateUnavailable",
    "connect",
    "find_redis_server",
    "redis_from_settings",
]
