"""A minimal RESP2 pipeline client for the Access-Request hot path.

Measured (tests/bench/radius_auth.py): redis-py spends ~100–150 µs of CPU per pipeline in
connection-pool, retry and parser layers, and a pipeline holding a Script adds a SCRIPT EXISTS
round trip. The auth handler sends one pipeline of plain reads per batch of requests
(``radius.batch_reads``, pre-encoded) and an EVALSHA for the tokens it spends, so this client
takes commands already in RESP form, sends them with one ``sendall`` and parses the replies with
hiredis's C reader. Errors surface as redis-py exception types, so the
server's "Redis is down → stay silent" handling is unchanged. Only plain ``redis://`` and
``unix://`` URLs (with optional password and db) are supported; Sentinel/Cluster deployments use
the redis-py path.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import hiredis
import redis

__all__ = ["Encoded", "RespClient", "RespPipeline", "bulk", "supports_url"]


@dataclass(frozen=True, slots=True)
class Encoded:
    """A command already in RESP form: hot paths pre-encode the parts that repeat (key names of
    a phone) instead of encoding every argument of every request."""

    payload: bytes
    script: bytes = b""     # the SHA when the command is an EVALSHA (for NOSCRIPT reloads)


Command = tuple[Any, ...] | Encoded | bytes    # bytes: one plain command already in RESP form


def supports_url(url: str) -> bool:
    return url.startswith(("redis://", "unix://"))


def bulk(args: Iterable[Any]) -> bytes:
    """Arguments as RESP bulk strings, without the array header (see ``Encoded``)."""
    out = []
    for arg in args:
        if type(arg) is bytes:
            b = arg
        elif type(arg) is str:
            b = arg.encode()
        else:
            b = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _script_of(command: Command) -> bytes:
    """The SHA of an EVALSHA command (tuple or Encoded; never bytes: plain commands only)."""
    if isinstance(command, Encoded):
        return command.script
    assert isinstance(command, tuple)
    return bytes(command[1])


def _encode(args: Command) -> bytes:
    if isinstance(args, bytes):
        return args
    if isinstance(args, Encoded):
        return args.payload
    # hiredis's C encoder: the same bytes as ``bulk`` (floats by repr), ~10x faster on the
    # accounting script's thirty arguments; refuses None and booleans (TypeError).
    return hiredis.pack_command(args)


class RespClient:
    """One connection, pipelines only. Not thread-safe (one per worker process)."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        if not supports_url(url):
            raise ValueError(f"RespClient supports redis:// and unix:// URLs, not {url!r}")
        parsed = urlparse(url)
        self.timeout = timeout
        self._unix = parsed.path if parsed.scheme == "unix" else None
        self._addr = (parsed.hostname or "127.0.0.1", parsed.port or 6379)
        self._password = unquote(parsed.password) if parsed.password else None
        self._username = unquote(parsed.username) if parsed.username else None
        db = 0
        if parsed.scheme == "redis" and parsed.path.strip("/"):
            db = int(parsed.path.strip("/"))
        q = parse_qs(parsed.query)
        if "db" in q:
            db = int(q["db"][0])
        self._db = db
        self._sock: socket.socket | None = None
        self._reader = self._new_reader()
        self._scripts: dict[bytes, bytes] = {}   # sha → source

    # --- connection -------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        try:
            if self._unix is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self._unix)
            else:
                sock = socket.create_connection(self._addr, timeout=self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise redis.ConnectionError(f"cannot connect to Redis: {exc}") from exc
        self._sock = sock
        self._reader = self._new_reader()   # nothing half-read may leak into the new connection
        setup: list[Command] = []
        if self._password is not None:
            setup.append(("AUTH", self._password) if self._username is None
                         else ("AUTH", self._username, self._password))
        if self._db:
            setup.append(("SELECT", self._db))
        if setup:
            for reply in self._roundtrip(setup):
                if isinstance(reply, redis.ResponseError):
                    self.close()
                    raise redis.AuthenticationError(str(reply))
        return sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # --- scripts ------------------------------------------------------------------------------

    def script(self, source: str) -> bytes:
        """Register a Lua script; returns its SHA1 for ``("EVALSHA", sha, …)`` commands."""
        sha = hashlib.sha1(source.encode()).hexdigest().encode()
        self._scripts[sha] = source.encode()
        return sha

    # --- pipelines ----------------------------------------------------------------------------

    def pipeline(self, commands: list[Command]) -> list[Any]:
        """Send all commands, return their replies in order. Error replies come back as
        ``redis.ResponseError`` instances; a missing script is loaded and the pipeline re-run
        once (safe: a NOSCRIPT command did not run). Transport failures raise
        ``redis.ConnectionError`` / ``redis.TimeoutError`` and drop the connection."""
        replies = self._roundtrip(commands)
        missing = {
            _script_of(cmd)
            for cmd, rep in zip(commands, replies, strict=True)
            if isinstance(rep, redis.ResponseError) and str(rep).startswith("NOSCRIPT")
        }
        if missing:
            self._roundtrip([("SCRIPT", "LOAD", self._scripts[sha]) for sha in missing])
            replies = self._roundtrip(commands)
        return replies

    def pipeline_once(self, commands: list[Command]) -> list[Any]:
        """As :meth:`pipeline`, for pipelines that write: after a NOSCRIPT only the commands that
        failed with it are sent again (the others ran: re-running a write would repeat it)."""
        replies = self._roundtrip(commands)
        again = [i for i, rep in enumerate(replies)
                 if isinstance(rep, redis.ResponseError) and str(rep).startswith("NOSCRIPT")]
        if again:
            missing = {_script_of(commands[i]) for i in again}
            self._roundtrip([("SCRIPT", "LOAD", self._scripts[sha]) for sha in missing])
            for i, rep in zip(again, self._roundtrip([commands[i] for i in again]), strict=True):
                replies[i] = rep
        return replies

    def evalsha_many(self, payloads: list[bytes], sha: bytes) -> list[Any]:
        """EVALSHAs of one registered script, each already encoded, in one round trip; after a
        NOSCRIPT the script is loaded and only the commands that failed are sent again."""
        replies = self._roundtrip_raw(b"".join(payloads), len(payloads))
        again = [i for i, rep in enumerate(replies)
                 if isinstance(rep, redis.ResponseError) and str(rep).startswith("NOSCRIPT")]
        if again:
            self._roundtrip([("SCRIPT", "LOAD", self._scripts[sha])])
            retried = self._roundtrip_raw(b"".join(payloads[i] for i in again), len(again))
            for i, rep in zip(again, retried, strict=True):
                replies[i] = rep
        return replies

    @staticmethod
    def _new_reader() -> hiredis.Reader:
        # Error replies become ResponseError instances in the reply list (also inside arrays);
        # a malformed stream raises ConnectionError, and the connection is dropped.
        return hiredis.Reader(protocolError=redis.ConnectionError, replyError=redis.ResponseError)

    def send_encoded(self, payload: bytes, replies: int) -> list[Any]:
        """Send commands already in RESP form (several, concatenated) and return their
        ``replies`` replies. For plain commands only: no NOSCRIPT handling."""
        return self._roundtrip_raw(payload, replies)

    def _roundtrip(self, commands: list[Command]) -> list[Any]:
        return self._roundtrip_raw(b"".join(_encode(c) for c in commands), len(commands))

    def _roundtrip_raw(self, payload: bytes, want: int) -> list[Any]:
        sock = self._sock or self._connect()
        reader = self._reader
        out: list[Any] = []
        try:
            sock.sendall(payload)
            while len(out) < want:
                reply = reader.gets()
                if reply is False:          # RESP2 has no boolean: False means "need more bytes"
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionResetError("Redis closed the connection")
                    reader.feed(chunk)
                else:
                    out.append(reply)
        except TimeoutError as exc:
            self.close()
            raise redis.TimeoutError(f"Redis did not answer in {self.timeout} s") from exc
        except (OSError, redis.ConnectionError) as exc:
            self.close()
            raise redis.ConnectionError(f"Redis connection failed: {exc}") from exc
        return out


def _packed(args: tuple[Any, ...], script: bytes = b"") -> Encoded:
    # Encoded when queued, as redis-py does, so a bad argument fails its own command there:
    # None or a boolean is refused (redis-py: DataError) instead of being sent as text.
    try:
        return Encoded(hiredis.pack_command(args), script)
    except TypeError:
        raise redis.DataError(f"invalid argument in {args[:2]!r}") from None


class RespPipeline:
    """The part of redis-py's non-transactional ``Pipeline`` the accounting batch queues on
    (``hset``, ``zadd``, ``xadd``, …, and a registered ``Script`` called with ``client=pipe``),
    sent through a :class:`RespClient`. Measured (tests/bench/radius_acct_batch.py --profile):
    redis-py's argument encoding was ~37 % of the accounting worker's CPU, and a pipeline holding
    a script asks ``SCRIPT EXISTS`` first, one more round trip per batch. Replies are the raw
    RESP replies (no redis-py response callbacks: callers read only script replies)."""

    # portal.state.scripts.queue_script queues a Script as a bare EVALSHA here: the client
    # knows the script (RespClient.script) and reloads it after a NOSCRIPT.
    queues_bare_evalsha = True

    def __init__(self, client: RespClient) -> None:
        self._client = client
        self._commands: list[Command] = []   # each encoded when queued

    def __len__(self) -> int:
        return len(self._commands)

    def execute_command(self, *args: Any) -> None:
        self._commands.append(_packed(args))

    def queue(self, *commands: Encoded | bytes) -> None:
        """Commands already in RESP form (radius/acct_wire.py): an EVALSHA as Encoded (it names
        its script), a plain command as its bytes (no object per command)."""
        self._commands.extend(commands)

    def hset(self, name: Any, key: Any = None, value: Any = None,
             mapping: dict[Any, Any] | None = None) -> None:
        args: list[Any] = ["HSET", name]
        if key is not None:
            args += (key, value)
        for pair in (mapping or {}).items():
            args += pair
        self._commands.append(_packed(tuple(args)))

    def hdel(self, name: Any, *fields: Any) -> None:
        self._commands.append(_packed(("HDEL", name, *fields)))

    def hincrby(self, name: Any, key: Any, amount: int = 1) -> None:
        self._commands.append(_packed(("HINCRBY", name, key, amount)))

    def zadd(self, name: Any, mapping: dict[Any, float]) -> None:
        args: list[Any] = ["ZADD", name]
        for member, score in mapping.items():
            args += (score, member)
        self._commands.append(_packed(tuple(args)))

    def zrem(self, name: Any, *members: Any) -> None:
        self._commands.append(_packed(("ZREM", name, *members)))

    def sadd(self, name: Any, *members: Any) -> None:
        self._commands.append(_packed(("SADD", name, *members)))

    def xadd(self, name: Any, fields: dict[Any, Any]) -> None:
        args: list[Any] = ["XADD", name, "*"]
        for pair in fields.items():
            args += pair
        self._commands.append(_packed(tuple(args)))

    def evalsha(self, sha: str | bytes, numkeys: int, *args: Any) -> None:
        """What ``redis.commands.core.Script.__call__`` queues; the client must know the script
        (:meth:`RespClient.script`) to reload it after a NOSCRIPT."""
        digest = sha.encode() if isinstance(sha, str) else sha
        self._commands.append(_packed(("EVALSHA", digest, numkeys, *args), digest))

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands, self._commands = self._commands, []
        if not commands:
            return []
        replies = self._client.pipeline_once(commands)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies
