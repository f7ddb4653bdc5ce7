"""The shape of the code is checked like its behaviour: the import rules in pyproject.toml
(``[tool.importlinter]``) hold, and no source module grows past 500 lines.

The import rules keep Flask at the edge (only ``portal.web`` and the commands that start it import
it), keep the libraries free of the application, and keep the RADIUS server free of the web layer.
A new import that breaks one fails here with import-linter's report: the chain of imports, file and
line. Run ``.venv/bin/lint-imports`` for the same report by hand.

Modules that were already longer than 500 lines when the limit was set are listed with their length
then as a ceiling: they may shrink, never grow, and leave the list once they are back under the
limit. Every other module stays at or under 500 lines.
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

# Oversize when the limit was introduced (2026-12-07, after that day's merges): path → line count
# then (the ceiling). Split, don't raise; remove a module from here once it is at 500 or fewer.
OVERSIZE_CEILINGS = {
}

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
        ceiling = OVERSIZE_CEILINGS.get(module, MAX_LINES)
        if lines > ceiling:
            too_long.append(f"{module}: {lines} lines (limit {ceiling})")
    assert not too_long, ("split these modules by concept instead of raising the limit:\n"
                          + "\n".join(too_long))


def test_the_oversize_list_names_only_modules_still_over_the_limit() -> None:
    counts = _source_line_counts()
    stale = [f"{module}: {counts.get(module, 'gone')}" for module in OVERSIZE_CEILINGS
             if counts.get(module, 0) <= MAX_LINES]
    assert not stale, ("back under the limit (or moved): remove from OVERSIZE_CEILINGS so the "
                       "500-line limit applies again:\n" + "\n".join(stale))
