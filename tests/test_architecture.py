"""The shape of the code is checked like its behaviour: the import rules in pyproject.toml
(``[tool.importlinter]``) hold, and no source module grows past 500 lines.

The import rules keep Flask at the edge (only ``portal.web`` and the commands that start it import
it), keep the libraries free of the application, and keep the RADIUS server free of the web layer.
A new import that breaks one fails here with import-linter's report: the chain of imports, file and
line. Run ``.venv/bin/lint-imports`` for the same report by hand.

Every module stays at or under 500 lines: a longer one is split by concept into siblings (see
``portal/settings_*.py`` or ``portal/state/keys_*.py``), never given a higher limit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "radius", "ac_adapters", "sms_gateway", "ad_pages")
MAX_LINES = 500

CONTRACT_IDS = {"libraries", "flask-at-the-edge", "portal-without-radius", "radius-without-web"}


def _lint_imports() -> str:
    beside_python = Path(sys.executable).parent / "lint-imports"
    found = str(beside_python) if beside_python.exists() else shutil.which("lint-imports")
    assert found, "lint-imports is missing: install the test extras (pip install -e '.[test]')"
    return found


def test_the_import_contracts_are_all_configured() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert {contract["id"] for contract in contracts} == CONTRACT_IDS


def test_the_code_keeps_the_import_contracts() -> None:
    result = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"an import breaks a rule in pyproject.toml:\n{report}"
    assert f"{len(CONTRACT_IDS)} kept, 0 broken" in report, report


def _source_line_counts() -> dict[str, int]:
    counts = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            counts[path.relative_to(ROOT).as_posix()] = len(path.read_text(encoding="utf-8").splitlines())
    return counts


def test_no_source_module_grows_past_its_line_limit() -> None:
    too_long = []
    for module, lines in _source_line_counts().items():
        if lines > MAX_LINES:
            too_long.append(f"{module}: {lines} lines (limit {MAX_LINES})")
    assert not too_long, ("split these modules by concept instead of raising the limit:\n"
                          + "\n".join(too_long))

