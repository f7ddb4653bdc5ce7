"""Every third-party module the five packages import is a declared runtime dependency, with a
lower bound. (The fresh-virtualenv smoke test proves the same by running the system; this one
names the missing package in a second, without building anything.)"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "radius", "sms_gateway", "ad_pages", "ac_adapters")


def _declared() -> dict[str, str]:
    """Normalised distribution name → its requirement string, from [project].dependencies."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    out = {}
    for requirement in data["project"]["dependencies"]:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)  # type: ignore[union-attr]
        out[_normalise(name)] = requirement
    return out


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module → files importing it, at any depth (lazy imports inside functions too)."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in PACKAGES or top == "__future__":
                        continue
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_a_declared_dependency() -> None:
    declared = _declared()
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in sorted(_third_party_imports().items()):
        dists = {_normalise(d) for d in providers.get(module, [module])}
        if not dists & declared.keys():
            missing[module] = sorted(files)[:3]
    assert not missing, f"imported but not in [project].dependencies of pyproject.toml: {missing}"


def test_every_dependency_has_a_lower_bound() -> None:
    unbounded = [r for r in _declared().values() if ">=" not in r and "==" not in r and "~=" not in r]
    assert not unbounded, unbounded
