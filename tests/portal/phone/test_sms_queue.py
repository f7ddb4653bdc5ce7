"""SmsQueue on a real Redis: idempotent enqueue, queued→sending, outcomes, reports, re-claim."""

from __future__ import annotations

import time
from typing import Any

from portal.phone.sms_queue import SmsJob, SmsQueue
from portal.state import keys


def test_enqueue_is_idempotent_per_request_id(redis_client: Any) -> None:
    q = SmsQueue(redis_client)
    job = SmsJob("13300000001", "otp", {"code": "123456"}, "en", request_id="req-1")
    assert q.enqueue(job) == "req-1"
    assert q.enqueue(job) == "req-1"
    assert redis_client.xlen(keys.sms_stream()) == 1
    assert q.outcome("req-1") == {"status": "queued", "created": q.outcome("req-1")["created"]}  # type: ignore[index]
    assert q.job("req-1") == job
    fresh = q.enqueue(SmsJob("13300000001", "otp", {"code": "1"}))
    assert len(fresh) == 32 and fresh != "req-1"
    assert q.outcome("nope") is None


def test_begin_send_only_once_then_finish_and_report(redis_client: Any) -> None:
    q = SmsQueue(redis_client)
    q.ensure_group()
    q.ensure_group()  # idempotent
    job_id = q.enqueue(SmsJob("13300000001", "otp", {"code": "123456"}))
    (entry,) = q.read("w1", 10, 100)
    assert entry.job_id == job_id
    job = SmsJob("13300000001", "otp", {"code": "123456"}, request_id=job_id)
    assert q.begin_send_job(job_id, "w1") == ("queued", job)     # this worker sends (it gets the job)
    assert q.begin_send_job(job_id, "w2") == ("sending", None)   # nobody else may
    assert q.begin_send(job_id, "w2") == "sending"
    assert q.begin_send_job("no-such-job", "w2") == ("missing", None)
    q.finish(entry.entry_id, job_id, "sent", gateway="ct", message_id="0755")
    out = q.outcome(job_id)
    assert out is not None and out["status"] == "sent" and out["gateway"] == "ct"
    assert q.pending_count() == 0
    assert q.record_report("ct", "0755", "DELIVRD", "000") == job_id
    out = q.outcome(job_id)
    assert out is not None and out["status"] == "delivered" and out["dlr_stat"] == "DELIVRD"
    assert q.begin_send(job_id, "w3") == "delivered"


def test_report_before_outcome_is_parked_and_applied(redis_client: Any) -> None:
    q = SmsQueue(redis_client)
    q.ensure_group()
    job_id = q.enqueue(SmsJob("13300000001", "otp", {"code": "1"}))
    (entry,) = q.read("w1", 10, 100)
    q.begin_send(job_id, "w1")
    assert q.record_report("cm", "42", "UNDELIV", "004") is None
    q.finish(entry.entry_id, job_id, "sent", gateway="cm", message_id="42")
    out = q.outcome(job_id)
    assert out is not None and out["status"] == "undelivered" and out["dlr_err"] == "004"
    assert not redis_client.exists(keys.sms_dlr_early("cm", "42"))


def test_stale_pending_entries_are_claimed_by_another_consumer(redis_client: Any) -> None:
    q = SmsQueue(redis_client)
    q.ensure_group()
    job_id = q.enqueue(SmsJob("13300000001", "otp", {"code": "1"}))
    assert [e.job_id for e in q.read("dead", 10, 100)] == [job_id]
    assert q.claim_stale("alive", 5.0, 10) == []     # not idle long enough yet
    time.sleep(0.25)
    claimed = q.claim_stale("alive", 0.2, 10)
    assert [e.job_id for e in claimed] == [job_id]
    assert q.read("alive", 10, 50) == []              # nothing new
