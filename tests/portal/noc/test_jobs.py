"""NOC background jobs (portal/noc/jobs.py) on real Redis: submit answers at once, progress and
results land in the record, failures are recorded, the pool and its queue are bounded, and a
job whose process stopped reads as interrupted instead of running forever."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from portal.noc.jobs import JobBusy, JobRunner, JobStore, Progress
from portal.state import keys


def _wait(store: JobStore, job_id: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is not None and job.finished:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish")


def test_submit_returns_at_once_and_the_record_follows_the_work(redis_client: Any) -> None:
    store = JobStore(redis_client, ttl=120)
    runner = JobRunner(store, workers=2, queue_size=4)
    gate = threading.Event()

    def work(progress: Progress) -> dict[str, Any]:
        progress(1, 2)
        gate.wait(5)
        progress(2, 2)
        return {"kicks": [], "message": "ok", "message_zh": "好"}

    started = time.monotonic()
    job = runner.submit("kick_phone", "18900000001", "user:noc", work, total=2)
    assert time.monotonic() - started < 0.2 and job.state == "queued"
    deadline = time.monotonic() + 5
    while (current := store.get(job.id)) is not None and current.state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert current is not None and current.done == 1 and not current.finished
    gate.set()
    done = _wait(store, job.id)
    assert (done.state, done.done, done.total, done.actor) == ("done", 2, 2, "user:noc")
    assert done.result == {"kicks": [], "message": "ok", "message_zh": "好"}
    assert 0 < redis_client.ttl(keys.noc_job(job.id)) <= 120          # the record expires
    runner.close()


def test_a_failing_job_is_recorded_and_the_hook_runs(redis_client: Any) -> None:
    store = JobStore(redis_client)
    runner = JobRunner(store, workers=1)
    seen: list[str] = []

    def work(progress: Progress) -> None:
        raise RuntimeError("AC registry broken")

    job = runner.submit("plan_apply", "basic", "token:x", work, on_done=lambda j: seen.append(j.state))
    failed = _wait(store, job.id)
    assert failed.state == "failed" and "AC registry broken" in failed.error
    deadline = time.monotonic() + 2
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["failed"]
    runner.close()


def test_what_on_queued_writes_comes_before_what_on_done_writes(redis_client: Any) -> None:
    """The request's audit entry is written by ``on_queued``: a job that finishes at once must
    not overtake it (CI saw the ``.done`` entry first when the request was audited after submit)."""
    store = JobStore(redis_client)
    runner = JobRunner(store, workers=1)
    order: list[str] = []

    def slow_request_audit(job: Any) -> None:
        time.sleep(0.2)                                  # a slow Redis write of the request's entry
        order.append(f"asked {job.id}")

    job = runner.submit("kick_session", "ac1|S1", "token:x", lambda progress: {"kicks": []},
                        on_queued=slow_request_audit, on_done=lambda j: order.append(f"done {j.id}"))
    _wait(store, job.id)
    deadline = time.monotonic() + 2
    while len(order) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert order == [f"asked {job.id}", f"done {job.id}"]
    runner.close()


def test_the_pool_and_the_queue_are_bounded(redis_client: Any) -> None:
    store = JobStore(redis_client)
    runner = JobRunner(store, workers=2, queue_size=3)
    gate = threading.Event()
    running = threading.Semaphore(0)

    def work(progress: Progress) -> None:
        running.release()
        gate.wait(5)

    jobs = [runner.submit("kick_session", f"ac|S{i}", "u", work) for i in range(2)]
    assert running.acquire(timeout=2) and running.acquire(timeout=2)     # both threads busy
    jobs += [runner.submit("kick_session", f"ac|Q{i}", "u", work) for i in range(3)]
    assert runner.full()
    with pytest.raises(JobBusy):
        runner.submit("kick_session", "ac|X", "u", work)
    assert not running.acquire(timeout=0.2)             # never more than two at a time
    gate.set()
    assert [_wait(store, j.id).state for j in jobs] == ["done"] * 5
    runner.close()


def test_a_job_whose_process_stopped_reads_as_interrupted(redis_client: Any) -> None:
    now = [1000.0]
    store = JobStore(redis_client, stale_after=60, clock=lambda: now[0])
    job = store.create("kick_session", "ac|S1", "u", "host:1")
    store.update(job.id, state="running")
    now[0] += 59
    found = store.get(job.id)
    assert found is not None and found.state == "running"
    now[0] += 2                                          # no heartbeat for 61 s
    found = store.get(job.id)
    assert found is not None and found.state == "interrupted" and found.finished
    assert "stopped" in found.error
    store.heartbeat([job.id])                            # a live runner keeps it alive
    found = store.get(job.id)
    assert found is not None and found.state == "running"


def test_closing_a_runner_marks_its_unfinished_jobs_interrupted(redis_client: Any) -> None:
    store = JobStore(redis_client)
    runner = JobRunner(store, workers=1, queue_size=4)
    gate = threading.Event()
    first = runner.submit("kick_session", "ac|S1", "u", lambda p: gate.wait(5))
    waiting = runner.submit("kick_session", "ac|S2", "u", lambda p: None)
    runner.close()                                       # what the process does at exit
    for job_id in (first.id, waiting.id):
        found = store.get(job_id)
        assert found is not None and found.state == "interrupted"
    gate.set()


def test_heartbeat_does_not_resurrect_an_expired_record(redis_client: Any) -> None:
    store = JobStore(redis_client)
    store.heartbeat(["gone-job-id-123"])
    assert not redis_client.exists(keys.noc_job("gone-job-id-123"))
    assert store.get("../../etc") is None and store.get("") is None
