"""Render hostile templates in a fresh process and report what each cost (time, peak memory).

Run by tests/security/test_template_sandbox.py as
``python -m tests.security.render_probe {http|direct} REDIS_URL DATA_DIR`` with a JSON list of
template sources on stdin; prints one JSON object per source. A separate process, because the
peak resident memory a render adds (Linux ``VmHWM``, reset before each render through
``/proc/self/clear_refs``) is only meaningful in a process that does nothing else, and because a
template that escapes its limits must not take the test runner down with it (the address space
is capped at 512 MB above the warmed-up process).

``http``: the real Flask app on the given Redis; a venue operator signs in, saves each source as
the login page's draft and opens the preview (``GET /venue/lib/pages/login/preview``) and the
editor (which re-checks the draft) — what a worker does for that user. ``direct``: the sandbox
alone (``PageRenderer.render``).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _measure(fn: Any) -> dict[str, Any]:
    """Run ``fn`` twice and keep the faster run (other processes share this machine's CPUs; a
    template that really breaks the limits is slow both times)."""
    best: dict[str, Any] | None = None
    for _ in range(2):
        reset = _reset_peak()
        before = _status("VmHWM") if reset else _status("VmRSS")
        started = time.monotonic()
        cpu = time.thread_time()
        info = fn()
        seconds = time.monotonic() - started
        result = {**info, "seconds": seconds, "cpu_seconds": time.thread_time() - cpu,
                  "peak_mb": (_status("VmHWM") - before) / 2**20, "peak_reset": reset}
        if best is None or seconds < best["seconds"]:
            best = result
    assert best is not None
    return best


def _limit_address_space() -> None:
    headroom = _status("VmSize") + 2**29
    resource.setrlimit(resource.RLIMIT_AS, (headroom, headroom))


def run_direct(sources: list[str]) -> list[dict[str, Any]]:
    from ad_pages import PageRenderer
    from portal.venues.pages import sample_context
    from portal.venues.venue_store import Venue

    renderer = PageRenderer()
    ctx = sample_context("login", Venue(id="lib", name_zh="图书馆", name_en="Library"), "zh")
    renderer.render("login", ctx, "<p>{{ venue.name }}</p>")          # warm up
    _limit_address_space()
    out = []
    for source in sources:
        def render(source: str = source) -> dict[str, Any]:
            result = renderer.render("login", ctx, source)
            return {"source": result.source, "reason": result.fallback_reason}
        out.append(_measure(render))
    return out


def run_http(sources: list[str], redis_url: str, data_dir: Path) -> list[dict[str, Any]]:
    import redis as redis_lib

    from portal.admin.accounts import Role
    from portal.venues.venue_store import Venue, VenueStore
    from tests.portal.web.consolekit import create_account, csrf, login, make_app

    client_redis = redis_lib.Redis.from_url(redis_url)
    VenueStore(client_redis).put(Venue(id="lib", name_zh="图书馆", name_en="Library"))
    app = make_app(client_redis, data_dir)
    _, password = create_account(client_redis, "probe-operator", Role.VENUE, ("lib",))
    user = app.test_client()
    assert login(user, "probe-operator", password).status_code == 302
    token = csrf(user, "/venue")
    user.post("/venue/lib/pages/login", data={"csrf_token": token, "source": "<p>{{ c }}</p>"})
    user.get("/venue/lib/pages/login/preview")                          # warm up
    user.get("/venue/lib/pages/login")
    _limit_address_space()
    out = []
    for source in sources:
        saved = user.post("/venue/lib/pages/login", data={"csrf_token": token, "source": source})
        assert saved.status_code == 302, saved.status_code

        def preview() -> dict[str, Any]:
            resp = user.get("/venue/lib/pages/login/preview")
            return {"status": resp.status_code, "source": resp.headers.get("X-Preview-Source", ""),
                    "size": len(resp.get_data())}

        def editor() -> dict[str, Any]:
            resp = user.get("/venue/lib/pages/login")
            return {"status": resp.status_code}

        result = _measure(preview)
        result["editor"] = _measure(editor)
        out.append(result)
    return out


def main() -> None:
    logging.disable(logging.WARNING)     # every hostile template logs its fallback
    mode = sys.argv[1]
    sources = json.loads(sys.stdin.read())
    results = run_direct(sources) if mode == "direct" else run_http(sources, sys.argv[2], Path(sys.argv[3]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
