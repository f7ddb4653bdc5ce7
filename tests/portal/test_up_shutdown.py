"""`citywifi up` stops its children in order: web first (its in-flight logins still need the
rest), then the others in reverse start order, each only after the previous one has exited."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

from portal.commands.up import Child, Supervisor

# A child that records when SIGTERM arrived and when it finished its (slow) graceful stop.
CHILD = r"""
import signal, sys, time
path = sys.argv[1]
def on_term(signum, frame):
    with open(path, "a") as fh:
        fh.write(f"term {time.time()}\n")
    time.sleep(float(sys.argv[2]))
    with open(path, "a") as fh:
        fh.write(f"exit {time.time()}\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(path, "a") as fh:
    fh.write("ready\n")
while True:
    time.sleep(0.05)
"""


def _times(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        if " " in line:
            what, at = line.split()
            out[what] = float(at)
    return out


def test_stop_all_is_ordered_and_waits_for_each_child(tmp_path: Path) -> None:
    names = ["radius", "ac-listener", "sms-worker", "web", "ac-sim"]
    children = []
    for name in names:
        record = tmp_path / f"{name}.txt"
        linger = "0.6" if name == "web" else "0.2"     # web finishes an in-flight login
        children.append(Child(name, [sys.executable, "-c", CHILD, str(record), linger], {},
                              log_path=tmp_path / f"{name}.log"))
    sup = Supervisor(children)
    try:
        sup.start_all()
        deadline = time.monotonic() + 20
        while not all((tmp_path / f"{n}.txt").exists() for n in names):
            assert time.monotonic() < deadline, "children did not start"
            time.sleep(0.05)
        time.sleep(0.2)
        sup.stop_all(timeout=10)
    finally:
        for c in children:
            if c.process is not None and c.process.poll() is None:
                c.process.kill()
                c.process.wait()
    times = {n: _times(tmp_path / f"{n}.txt") for n in names}
    expected = ["web", "ac-sim", "sms-worker", "ac-listener", "radius"]
    assert sorted(names, key=lambda n: times[n]["term"]) == expected
    for before, after in itertools.pairwise(expected):
        # The next child is told to stop only once the previous one has finished stopping.
        assert times[before]["exit"] <= times[after]["term"], (before, after)
    assert all(c.process is not None and c.process.returncode == 0 for c in children)


def test_a_child_that_ignores_sigterm_is_killed_after_its_stop_timeout(tmp_path: Path) -> None:
    stubborn = Child("web", [sys.executable, "-c",
                             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                             "print('ready', flush=True); time.sleep(60)"], {},
                     log_path=tmp_path / "web.log", stop_timeout=0.5)
    sup = Supervisor([stubborn])
    sup.start_all()
    deadline = time.monotonic() + 20
    while "ready" not in (tmp_path / "web.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    sup.stop_all(timeout=30)
    assert time.monotonic() - t0 < 5
    assert stubborn.process is not None and stubborn.process.returncode is not None
