"""Helpers for tests of NOC background jobs: wait for a job through the API or the console page."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Flask

from tests.portal.web.api.apikit import assert_matches_openapi, auth, token

__all__ = ["console_job", "finished_job"]


def finished_job(app: Flask, redis: Any, status_url: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll ``GET status_url`` (checked against the OpenAPI document) until the job finished."""
    headers = auth(token(redis, "read", "job-poller"))
    deadline = time.monotonic() + timeout
    while True:
        resp = app.test_client().get(status_url, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        assert_matches_openapi(app, "GET", "/jobs/{job_id}", resp)
        body: dict[str, Any] = resp.get_json()
        if body["finished"] or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def console_job(client: Any, location: str, timeout: float = 20.0) -> str:
    """Follow a console redirect to a job page and reload it (as its Refresh header asks) until
    the job finished; returns the final page."""
    assert "/noc/jobs/" in location, location
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(location)
        assert resp.status_code == 200
        page: str = resp.get_data(as_text=True)
        state = re.search(r'id="job-state" data-state="(\w+)"', page)
        assert state is not None, page
        if "Refresh" not in resp.headers or time.monotonic() > deadline:
            return page
        assert state.group(1) in ("queued", "running")
        time.sleep(0.05)
