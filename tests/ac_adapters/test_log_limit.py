"""Rate-limited logging: a flood of drops writes a handful of lines and one summary per window."""

from __future__ import annotations

import logging

import pytest

from ac_adapters.log_limit import LogLimiter


def test_burst_then_summary_per_key(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("test.limit"), burst=3, window=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.limit"):
        written = [limiter.log("drop bad_auth", logging.WARNING, "dropped %d", i) for i in range(1000)]
        assert limiter.log("drop unknown_ac", logging.INFO, "other key")
        assert written == [True] * 3 + [False] * 997
        assert [r.getMessage() for r in caplog.records] == [
            "dropped 0", "dropped 1", "dropped 2", "other key"]
        now[0] = 10.5
        limiter.flush()         # the window is over: one line says what was held back
        assert caplog.records[-1].getMessage() == (
            "drop bad_auth: 997 more like this in 10 s were not logged")
        assert caplog.records[-1].levelno == logging.WARNING
        assert limiter.log("drop bad_auth", logging.WARNING, "again")
    assert len(caplog.records) == 6
