"""A fresh install works: the tracked files of the checkout (what a clone has) are installed
*without extras* into a new virtualenv, and that venv's ``citywifi up --demo`` — run outside the
source tree, with default settings apart from free ports — serves the phone URL it prints with
200. This is what ``scripts/run.sh`` does on a fresh machine; the test suite's own venv has the
test extras, so a runtime dependency that only arrives with them (jsonschema once did) is caught
here and nowhere else. pip's cache keeps it quick after the first run; it never skips."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_tcp_port, free_udp_port

ROOT = Path(__file__).resolve().parents[2]
_SKIP_DIRS = {".git", ".venv", "__pycache__", "citywifi-data", "build", "dist", ".mypy_cache",
              ".ruff_cache", ".pytest_cache", ".hypothesis"}


def _copy_checkout(dest: Path) -> int:
    """Copy what a clone would have: git's tracked files (as they are in the working tree), or —
    without git — the tree minus venvs, caches and data. Returns the number of files."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                                check=True, timeout=60).stdout.decode().split("\0")
        files = [name for name in listed if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not _SKIP_DIRS & set(p.relative_to(ROOT).parts)
                 and not p.name.endswith(".egg-info")]
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return len(files)


def _run(argv: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.mark.timeout(900)
def test_a_fresh_install_without_extras_serves_the_phone_url(tmp_path: Path) -> None:
    t0 = time.monotonic()
    src, venv, run_dir = tmp_path / "src", tmp_path / "venv", tmp_path / "run"
    assert _copy_checkout(src) > 50
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("CITYWIFI_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE"))}
    made = _run([sys.executable, "-m", "venv", str(venv)], 120, env=base_env)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    installed = _run([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                      "--quiet", str(src)], 600, env=base_env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    t_installed = time.monotonic()
    # Really without the test extras, and the package comes from the venv, not the checkout.
    probe = _run([python, "-c", "import portal, sys; print(portal.__file__); "
                                "import importlib.util as u; sys.exit(u.find_spec('pytest') is not None)"],
                 60, env=base_env, cwd=tmp_path)
    assert probe.returncode == 0, "pytest is installed in the fresh venv: not a clean install"
    assert probe.stdout.startswith(str(venv)), probe.stdout

    run_dir.mkdir()
    env = dict(base_env)
    web_port = free_tcp_port()
    auth, acct, listener, sim, coa = (free_udp_port() for _ in range(5))
    env.update({   # free ports only: two test workers run at once; everything else is the default
        "CITYWIFI_WEB_PORT": str(web_port), "CITYWIFI_WEB_HOST": "127.0.0.1", "CITYWIFI_WEB_WORKERS": "1",
        "CITYWIFI_RADIUS_HOST": "127.0.0.1", "CITYWIFI_RADIUS_WORKERS": "1",
        "CITYWIFI_RADIUS_AUTH_PORT": str(auth), "CITYWIFI_RADIUS_ACCT_PORT": str(acct),
        "CITYWIFI_LISTENER_HOST": "127.0.0.1", "CITYWIFI_LISTENER_PORT": str(listener),
        "CITYWIFI_AC_SIM_PORT": str(sim), "CITYWIFI_AC_SIM_COA_PORT": str(coa),
        "CITYWIFI_AC_SIM_RADIUS_AUTH_PORT": str(auth), "CITYWIFI_AC_SIM_RADIUS_ACCT_PORT": str(acct),
        "CITYWIFI_AC_SIM_PORTAL_PORT": str(listener),
    })
    proc = subprocess.Popen([str(venv / "bin" / "citywifi"), "up", "--demo"], env=env, cwd=run_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True)   # type: ignore[arg-type]
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while "citywifi is running" not in "".join(seen):
            assert proc.poll() is None, "citywifi up exited:\n" + "".join(seen)[-5000:]
            assert time.monotonic() < deadline, "not running after 240 s:\n" + "".join(seen)[-5000:]
            time.sleep(0.1)
        t_running = time.monotonic()
        time.sleep(0.2)     # the rest of the banner
        m = re.search(r"portal   : (http://\S+)", "".join(seen))
        assert m, "".join(seen)
        page = requests.get(m.group(1), timeout=15)
        assert page.status_code == 200, page.text[:1000]
        assert "text/html" in page.headers.get("Content-Type", "")
    finally:
        os.killpg(proc.pid, signal.SIGINT)          # Ctrl-C in the terminal of scripts/run.sh
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(5)
    assert proc.returncode == 0, "".join(seen)[-5000:]
    print(f"fresh install: copy+venv+pip {t_installed - t0:.1f} s, up --demo running after "
          f"{t_running - t_installed:.1f} s, total {time.monotonic() - t0:.1f} s")
