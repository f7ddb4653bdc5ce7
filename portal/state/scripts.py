"""Queueing a registered Lua script on a pipeline, on a single Redis and on Redis Cluster alike.

redis-py's cluster pipeline refuses EVALSHA (and so ``Script(..., client=pipe)``), but routes
EVAL by its keys. On a cluster pipeline the script therefore goes out as EVAL with its source:
a few hundred bytes more per call, still one round trip. Everything else keeps EVALSHA.

``queue_script`` lets redis-py check the pipeline's scripts with SCRIPT EXISTS before sending
it: a second round trip on every ``execute``. On hot paths ``queue_evalsha`` queues the bare
EVALSHA instead and ``execute_scripted`` runs the pipeline: a script Redis does not know (after a
restart or SCRIPT FLUSH) answers NOSCRIPT without having run, and only that call is repeated
through the script object, which loads it — so the script is loaded once, not checked each time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.cluster
import redis.exceptions

__all__ = ["execute_scripted", "is_cluster", "queue_evalsha", "queue_script"]


def is_cluster(client: Any) -> bool:
    """True for a ``RedisCluster`` client or one of its pipelines."""
    return isinstance(client, redis.cluster.RedisCluster | redis.cluster.ClusterPipeline)


def queue_script(pipe: Any, script: Any, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue ``script`` (a redis-py ``Script``) with ``keys``/``args`` on ``pipe``.

    A pipeline whose class says ``queues_bare_evalsha`` (the RADIUS worker's own RESP pipeline,
    whose client reloads a script after NOSCRIPT) gets the EVALSHA directly: redis-py's command
    classes are ``typing.Protocol`` subclasses, so each ``isinstance`` against its pipelines
    (here and in ``Script.__call__``) runs the protocol machinery, measured at about a tenth of
    the accounting worker's Python time per Interim-Update."""
    if getattr(type(pipe), "queues_bare_evalsha", False):
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    elif isinstance(pipe, redis.cluster.ClusterPipeline):
        pipe.execute_command("EVAL", script.script, len(keys), *keys, *args)
    else:
        script(keys=list(keys), args=list(args), client=pipe)


def queue_evalsha(pipe: Any, script: Any, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue ``script`` as a bare EVALSHA (EVAL on a cluster pipeline); run the pipeline with
    ``execute_scripted`` so an unknown script is loaded and repeated."""
    if isinstance(pipe, redis.cluster.ClusterPipeline):
        pipe.execute_command("EVAL", script.script, len(keys), *keys, *args)
    else:
        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)


def execute_scripted(pipe: Any, scripts: Mapping[int, tuple[Any, Sequence[Any], Sequence[Any]]]) -> list[Any]:
    """``pipe.execute()`` where the replies at the positions in ``scripts`` (position →
    (script, keys, args), as queued by ``queue_evalsha``) that failed with NOSCRIPT are redone
    one by one through the script object. Any other error is raised, as ``execute`` would."""
    replies = list(pipe.execute(raise_on_error=False))
    for i, reply in enumerate(replies):
        if isinstance(reply, redis.exceptions.NoScriptError) and i in scripts:
            script, keys, args = scripts[i]
            replies[i] = script(keys=list(keys), args=list(args))
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
