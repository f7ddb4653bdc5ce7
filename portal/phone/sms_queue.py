"""The SMS job queue on a Redis stream, shared by the web side and `citywifi sms-worker`.

Delivery guarantee — **at most once, never twice** (the chosen trade-off):

* The job id *is* the request's idempotency key (``SmsJob.request_id``; a new uuid when
  empty). Enqueueing the same request twice creates one job and one stream entry.
* Before a worker calls a gateway it atomically moves the job ``queued → sending``
  (:meth:`SmsQueue.begin_send`, a Lua script). Only the worker that wins that transition
  sends.
* A worker that crashes after ``sending`` (before or after the gateway call, before the ack)
  leaves a pending stream entry; another worker re-claims it with XAUTOCLAIM, sees
  ``sending`` and records ``failed / sms_uncertain`` instead of sending again. The SMS may
  or may not have gone out; the user sees "if it does not arrive, press resend". A duplicate
  OTP SMS costs money and annoys, a lost one costs one tap on "resend" — so we prefer never
  twice. A crash *before* ``sending`` leaves the job ``queued``; it is re-claimed and sent
  normally, so no job is lost to a crash.
* Gateways that do not answer in time are treated the same way (``GatewayUncertainError``
  from the backends: never resent, never failed over).

The job's text parameters (an OTP job carries the code in clear) are kept no longer than needed:
a queued job lives ``queued_ttl`` seconds (15 minutes by default, longer than any sensible code
lifetime — an SMS sent later would carry a dead code), and recording the outcome deletes them,
keeping only the outcome fields for ``ttl`` seconds (delivery reports, the NOC).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from portal.state import keys

__all__ = ["SmsJob", "SmsQueue", "StreamEntry"]


@dataclass(frozen=True, slots=True)
class SmsJob:
    """One SMS to send. ``template`` "otp" with ``params`` {"code": "123456"} renders the "otp"
    text of ``sms_gateway.messages`` (the signature first) in ``lang``, zh or en."""

    phone: str
    template: str
    params: dict[str, str] = field(default_factory=dict)
    lang: str = "zh"
    request_id: str = ""
    # Where the phone asked for it (its login context): the daily reports count SMS by place.
    venue: str = ""
    ac: str = ""
    ssid: str = ""

    @property
    def place(self) -> tuple[str, str, str]:
        return (self.venue, self.ac, self.ssid)

    def to_json(self) -> str:
        # The fields as they are (asdict() deep-copied each first; json.dumps copies nothing).
        return json.dumps({f.name: getattr(self, f.name) for f in dataclass_fields(self)}, ensure_ascii=False,
                          sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> SmsJob:
        data = json.loads(raw)
        return cls(phone=str(data["phone"]), template=str(data["template"]),
                   params={str(k): str(v) for k, v in dict(data.get("params") or {}).items()},
                   lang=str(data.get("lang") or "zh"), request_id=str(data.get("request_id") or ""),
                   venue=str(data.get("venue") or ""), ac=str(data.get("ac") or ""),
                   ssid=str(data.get("ssid") or ""))


@dataclass(frozen=True, slots=True)
class StreamEntry:
    entry_id: str
    job_id: str


_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'job', ARGV[2], 'status', 'queued', 'created', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'job_id', ARGV[1])
return 1
"""

# queued → sending, atomically; returns the status found (only 'queued' means "send it") and,
# for 'queued', the job itself: the worker needs it next (one round trip, not two, per SMS).
_BEGIN = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', false} end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'sending', 'worker', ARGV[1], 'sending_at', ARGV[2])
  return {status, redis.call('HGET', KEYS[1], 'job')}
end
return {status, false}
"""

# Record the outcome, drop the job's text (the code), index the gateway message id, apply a
# parked early report, ack: one step, so a report arriving concurrently is either parked before
# (and applied here) or sees the index after (and applied by record_report). Returns the status
# of the early report it applied ('' when none), so exactly one side counts each report.
_FINISH = """
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('HDEL', KEYS[1], 'job')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
local applied = ''
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4]))
  local early = redis.call('HGETALL', KEYS[3])
  if #early > 0 then
    redis.call('HSET', KEYS[1], unpack(early))
    redis.call('DEL', KEYS[3])
    for j = 1, #early, 2 do if early[j] == 'status' then applied = early[j + 1] end end
  end
end
if ARGV[1] ~= '' then redis.call('XACK', KEYS[4], ARGV[2], ARGV[1]) end
return applied
"""


class SmsQueue:
    """``SmsQueue(redis).enqueue(job) -> job_id``; ``outcome(job_id) -> dict | None``.
    The remaining methods are the worker's side."""

    def __init__(self, redis: Any, *, ttl: int = 7 * 86400, maxlen: int = 100_000,
                 group: str = keys.SMS_GROUP, queued_ttl: int = 900) -> None:
        self.redis = redis
        self.ttl = ttl
        self.queued_ttl = max(1, min(queued_ttl, ttl))
        self.maxlen = maxlen
        self.group = group
        self._enqueue = redis.register_script(_ENQUEUE)
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)

    # --- web side ---------------------------------------------------------------------------

    def enqueue(self, job: SmsJob) -> str:
        """Queue the job once per ``request_id`` and return its id (= the request id)."""
        script, script_keys, args = self.enqueue_call(job)
        script(keys=script_keys, args=args)
        return str(args[0])

    def enqueue_call(self, job: SmsJob) -> tuple[Any, list[str], list[Any]]:
        """``enqueue`` as (script, keys, args), for a caller that sends it in its own pipeline
        (``portal.state.scripts.queue_evalsha``); the job id is ``args[0]``."""
        job_id = job.request_id or uuid.uuid4().hex
        if job_id != job.request_id:
            job = SmsJob(job.phone, job.template, dict(job.params), job.lang, job_id, job.venue,
                         job.ac, job.ssid)
        return (self._enqueue, [keys.sms_job(job_id), keys.sms_stream()],
                [job_id, job.to_json(), f"{time.time():.3f}", self.ttl, self.maxlen, self.queued_ttl])

    def outcome(self, job_id: str) -> dict[str, str] | None:
        """The job's record: status (queued/sending/sent/failed/delivered/undelivered), gateway,
        message_id, error_code, message_zh, message_en, dlr_stat, … ; None if unknown."""
        raw = self.redis.hgetall(keys.sms_job(job_id))
        if not raw:
            return None
        out = {_s(k): _s(v) for k, v in raw.items()}
        out.pop("job", None)
        return out

    def job(self, job_id: str) -> SmsJob | None:
        raw = self.redis.hget(keys.sms_job(job_id), "job")
        return SmsJob.from_json(raw) if raw else None

    # --- worker side ------------------------------------------------------------------------

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(keys.sms_stream(), self.group, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, consumer: str, count: int, block_ms: int) -> list[StreamEntry]:
        """New entries for this consumer (XREADGROUP >)."""
        resp = self.redis.xreadgroup(self.group, consumer, {keys.sms_stream(): ">"},
                                     count=count, block=block_ms)
        return [e for _, entries in (resp or []) for e in _entries(entries)]

    def claim_stale(self, consumer: str, min_idle: float, count: int) -> list[StreamEntry]:
        """Take over entries another (crashed) worker read but never acked (XAUTOCLAIM)."""
        resp = self.redis.xautoclaim(keys.sms_stream(), self.group, consumer,
                                     min_idle_time=int(min_idle * 1000), start_id="0-0", count=count)
        return _entries(resp[1])

    def begin_send(self, job_id: str, worker: str) -> str:
        """Atomically ``queued → sending``. Returns the status found before: ``queued`` means
        this worker must send; ``sending`` means a crashed worker may have sent it."""
        return self.begin_send_job(job_id, worker)[0]

    def begin_send_job(self, job_id: str, worker: str) -> tuple[str, SmsJob | None]:
        """:meth:`begin_send`, and the job to send when the status found was ``queued``."""
        status, raw = self._begin(keys=[keys.sms_job(job_id)], args=[worker, f"{time.time():.3f}"])
        return _s(status), SmsJob.from_json(raw) if raw else None

    def finish(self, entry_id: str, job_id: str, status: str, *, gateway: str = "",
               message_id: str = "", error_code: str = "", message_zh: str = "",
               message_en: str = "", place: tuple[str, str, str] = ("", "", "")) -> str:
        """Record the outcome, index the gateway message id for reports, and ack (one script).
        ``place``: the job's venue, AC and SSID, kept with the outcome (the job's own text is
        dropped) for the figures of its delivery report. Returns the status of a delivery
        report that had arrived first and is applied now ("" when none)."""
        fields = {"status": status, "gateway": gateway, "message_id": message_id,
                  "error_code": error_code, "message_zh": message_zh, "message_en": message_en,
                  "finished_at": f"{time.time():.3f}", "venue": place[0], "ac": place[1],
                  "ssid": place[2]}
        flat = [x for kv in fields.items() for x in kv]
        return _s(self._finish(
            keys=[keys.sms_job(job_id), keys.sms_dlr(gateway, message_id),
                  keys.sms_dlr_early(gateway, message_id), keys.sms_stream()],
            args=[entry_id, self.group, job_id, self.ttl, message_id, *flat],
        ) or "")

    def place(self, job_id: str) -> tuple[str, str, str]:
        """The venue, AC and SSID a finished job was for (``("", "", "")`` when unknown)."""
        venue, ac, ssid = self.redis.hmget(keys.sms_job(job_id), ["venue", "ac", "ssid"])
        return (_s(venue or b""), _s(ac or b""), _s(ssid or b""))

    def ack(self, entry_id: str) -> None:
        self.redis.xack(keys.sms_stream(), self.group, entry_id)

    def record_report(self, gateway: str, message_id: str, stat: str, err: str = "") -> str | None:
        """Apply a delivery report to its job; returns the job id, or None when the send is not
        recorded yet (the report is parked and applied by :meth:`finish`)."""
        fields = {"status": "delivered" if stat == "DELIVRD" else "undelivered",
                  "dlr_stat": stat, "dlr_err": err, "dlr_at": f"{time.time():.3f}"}
        job_id = self.redis.get(keys.sms_dlr(gateway, message_id))
        if job_id is None:
            early = keys.sms_dlr_early(gateway, message_id)
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(early, mapping=fields)
            pipe.expire(early, self.ttl)
            pipe.execute()
            # Re-check: the worker may have recorded the send in between (then apply it here;
            # applying twice is harmless).
            job_id = self.redis.get(keys.sms_dlr(gateway, message_id))
            if job_id is None:
                return None
            self.redis.delete(early)
        self.redis.hset(keys.sms_job(_s(job_id)), mapping=fields)
        return _s(job_id)

    def pending_count(self) -> int:
        info = self.redis.xpending(keys.sms_stream(), self.group)
        return int(info["pending"])


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(entries: Any) -> list[StreamEntry]:
    out: list[StreamEntry] = []
    for entry_id, fields in entries or []:
        if not fields:  # deleted by MAXLEN trimming while pending
            out.append(StreamEntry(_s(entry_id), ""))
            continue
        out.append(StreamEntry(_s(entry_id), _s(fields.get(b"job_id", fields.get("job_id", "")))))
    return out
