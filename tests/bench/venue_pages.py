"""Benchmark: what a venue's own page costs a phone view, against the shipped default page.

Renders the login page through the phone view's path (``PageStore.source_for`` with its
per-process cache, ``build_context``, the sandboxed ``PageRenderer``) and reports pages/s and
Redis round trips per view, for: the default page; a published venue page (cache on, the
production setting); the same with the cache off (a Redis HGET per view); plus publish/s
(compile + two trial renders + the Lua publish).

    python3 tests/bench/venue_pages.py [--count 3000]

Starts its own redis-server and stops it at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from ad_pages import PageRenderer
from portal.state.embedded import EmbeddedRedis
from portal.venues.pages import PageStore, build_context, default_source, sample_values
from portal.venues.venue_store import Venue

VENUE = Venue(id="bench", name_zh="基准场所", name_en="Bench venue")
CUSTOM = default_source("login").replace("{{ t.welcome }}", "春季特惠 {{ t.welcome }}")


def views(store: PageStore, renderer: PageRenderer, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        source = store.source_for(VENUE, "login")
        ctx = build_context(VENUE, "zh", **sample_values("login", VENUE, "zh"))
        renderer.render("login", ctx, source)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        client = redis.Redis.from_url(server.url)
        renderer = PageRenderer()
        cached = PageStore(client, renderer=renderer, cache_seconds=2.0)
        uncached = PageStore(client, renderer=renderer, cache_seconds=0.0)
        print(f"default page (nothing published): {views(cached, renderer, args.count):8.0f} views/s")
        cached.publish(VENUE, "login", "bench", source=CUSTOM)
        before = int(client.info("stats")["total_commands_processed"])
        rate = views(cached, renderer, args.count)
        calls = int(client.info("stats")["total_commands_processed"]) - before - 1
        per_view = calls / args.count
        print(f"venue page, cache 2 s:           {rate:8.0f} views/s  ({per_view:.4f} Redis calls/view)")
        before = int(client.info("stats")["total_commands_processed"])
        rate = views(uncached, renderer, args.count)
        calls = int(client.info("stats")["total_commands_processed"]) - before - 1
        per_view = calls / args.count
        print(f"venue page, cache off:           {rate:8.0f} views/s  ({per_view:.4f} Redis calls/view)")
        n = max(50, args.count // 20)
        start = time.perf_counter()
        for i in range(n):
            cached.publish(VENUE, "login", "bench", source=CUSTOM + f"<!-- {i} -->")
        print(f"publish (check + store):         {n / (time.perf_counter() - start):8.0f} publishes/s")
        client.close()


if __name__ == "__main__":
    main()
