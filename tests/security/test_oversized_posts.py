"""Phone POSTs over the body limit get the bilingual 413 page, and bad links cannot flood the log.

An attack run found that a phone POST over 64 KiB answered 500: the 413 handler read the form
again for the page's language (``request.values``), raising 413 inside itself, and wrote a
~15 KB traceback each time; and every bad phone URL logged ~280 bytes with no rate limit.
Real HTTP against the app (threaded server on loopback), real Redis.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import running_stack
from tests.security.phone_http import Client, serve


@pytest.fixture
def base(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[str]:
    with running_stack(redis_client, redis_url, data_dir) as stack, serve(stack) as url:
        yield url


@pytest.mark.parametrize("path", ["/portal/code", "/portal/login", "/portal/logout", "/portal/continue"])
def test_an_oversized_phone_post_is_a_413_page_without_a_traceback(
    base: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for lang, text in (("zh-CN", "提交的内容太大"), ("en", "too large")):
        page = Client(base, "127.0.0.1", lang=lang).post(path, {"c": "x", "phone": "1" * 70_000})
        assert page.status == 413, page.text[:300]
        assert text in page.text and 'data-code="too_large"' in page.text
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_bad_phone_links_are_logged_with_a_rate_limit(base: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="citywifi.web.phone")
    phone = Client(base, "127.0.0.1")
    for i in range(60):
        page = phone.post("/portal/code", {"c": f"forged-{i}" + "A" * 300, "phone": "13800138000"})
        assert page.status == 400 and page.error_code == "bad_link"
    lines = [r for r in caplog.records if r.name == "citywifi.web.phone" and "bad_link" in r.getMessage()]
    assert 1 <= len(lines) <= 20, len(lines)
    assert all(len(r.getMessage()) < 300 for r in lines)
