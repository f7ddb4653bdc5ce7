"""Queueing a registered Lua script on a pipeline, on a single Redis and on Redis Cluster alike.

redis-py's cluster pipeline refuses EVALSHA (and so ``Script(..., client=pipe)``), but routes
EVAL by its keys. On a cluster pipeline the script therefore goes out as EVAL with its source:
a few hundred bytes more per call, still one round trip. Everything else keeps EVALSHA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.cluster

__all__ = ["is_cluster", "queue_script"]


def is_cluster(client: Any) -> bool:
    """True for a ``RedisCluster`` client or one of its pipelines."""
    return isinstance(client, redis.cluster.RedisCluster | redis.cluster.ClusterPipeline)


def queue_script(pipe: Any, script: Any, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue ``script`` (a redis-py ``Script``) with ``keys``/``args`` on ``pipe``."""
    if isinstance(pipe, redis.cluster.ClusterPipeline):
        pipe.execute_command("EVAL", script.script, len(keys), *keys, *args)
    else:
        script(keys=list(keys), args=list(args), client=pipe)
