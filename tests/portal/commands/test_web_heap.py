"""A web worker moves the objects it built at start-up (modules, the app, its caches) out of the
garbage collector's sight (``portal.commands.web.settle_heap``): with them tracked, every full
collection walked ≈ 87,000 objects and stopped all of the worker's threads for 80–140 ms, the
soak ramp's journey tail (docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_PROBE = """
import gc, json, sys
from portal.commands.web import wsgi_from_environment
tracked_before = len(gc.get_objects())
app = wsgi_from_environment()          # what deploy/gunicorn.conf.py loads in each worker
print(json.dumps({"before": tracked_before, "frozen": gc.get_freeze_count(),
                  "tracked": len(gc.get_objects()), "callable": callable(app)}))
"""


def test_worker_app_freezes_what_start_up_built(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CITYWIFI_DATA_DIR": str(tmp_path),
           "CITYWIFI_REDIS_URL": "redis://127.0.0.1:1/0",      # the app connects lazily: no server
           "CITYWIFI_WEB_PUBLIC_URL": "http://10.0.0.1"}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["callable"]
    # Everything built so far is frozen (the app alone is tens of thousands of objects) and a
    # full collection now has next to nothing left to walk.
    assert got["frozen"] > max(20_000, got["before"])
    assert got["tracked"] < 1_000
