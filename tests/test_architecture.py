"""The shape of the code is checked like its behaviour: the import rules in pyproject.toml
(``[tool.importlinter]``) hold, and no source module grows past 500 lines.

The import rules keep Flask at the edge (only ``portal.web`` and the commands that start it import
it), keep the libraries free of the application, and keep the RADIUS server free of the web layer.
A new import that breaks one fails here with import-linter's report: the chain of imports, file and
line. Run ``.venv/bin/lint-imports`` for the same report by hand.

Every module stays at or under 500 lines: a longer one is split by concept into siblings (see
``portal/runtime/settings_*.py`` or ``portal/state/keys_*.py``), never given a higher limit.
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

CONTRACT_IDS = {"libraries", "flask-at-the-edge", "portal-without-radius", "radius-without-web",
                "radius-on-aaa", "aaa-stands-alone"}


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


# Modules that may share a basename because they are one concept: each package's error tree,
# each area's catalog of user-facing zh/en text.
SHARED_BASENAMES = {"__init__.py", "errors.py", "texts.py"}


def test_no_two_source_modules_share_a_name() -> None:
    """A name tells one concept: ``sessions.py`` is the online-session registry, and the API's
    routes over it are ``api_sessions.py``, so a grep or a traceback names one room."""
    seen: dict[str, list[str]] = {}
    for module in _source_line_counts():
        name = module.rsplit("/", 1)[-1]
        if name not in SHARED_BASENAMES:
            seen.setdefault(name, []).append(module)
    shared = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not shared, f"rename one of each (or make them one module): {shared}"


def test_the_radius_contract_names_every_portal_area() -> None:
    """A new portal area is forbidden to radius until someone decides otherwise (add it to
    ``radius-on-aaa``'s forbidden_modules, or to ALLOWED_TO_RADIUS with a reason)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "radius-on-aaa")
    forbidden = {name.split(".")[1] for name in contract["forbidden_modules"] if name.startswith("portal.")}
    areas = {p.stem if p.is_file() else p.name for p in (ROOT / "portal").iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    unsorted = areas - forbidden - ALLOWED_TO_RADIUS
    assert not unsorted, f"portal areas neither allowed to nor forbidden for radius: {sorted(unsorted)}"


def test_every_portal_module_is_on_the_map() -> None:
    """docs/architecture.md lists every module under portal/ with one line, so a newcomer finds the
    room of a behaviour in one step; a new module adds its line there."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    index = text.split("## Every portal module in one line", 1)[-1].split("\n## ", 1)[0]
    listed, area = set(), ""
    for line in index.splitlines():
        if line.startswith("`portal/") and line.endswith("/`"):
            area = line.strip("`")
        elif line.startswith("- `") and area:
            listed.add(area + line[3:].split("`", 1)[0])
    modules = {m for m in _source_line_counts() if m.startswith("portal/") and not m.endswith("__init__.py")}
    assert not modules - listed, f"add to docs/architecture.md's module index: {sorted(modules - listed)}"
    assert not listed - modules, f"gone, remove from the index: {sorted(listed - modules)}"


# What radius may import from portal (pyproject.toml, contract radius-on-aaa): the AAA core and
# Redis state; the shared leaves (error tree, text, units, and texts: their zh/en words); runtime
# settings, metrics, readiness.
ALLOWED_TO_RADIUS = {"aaa", "state", "errors", "text", "texts", "units", "runtime"}
