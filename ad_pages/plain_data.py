"""What may reach a template: plain data (str, numbers, bools, None, lists and string-keyed
mappings of them), copied. Anything else (an object with methods, a callable) is refused before
rendering, so neither a venue template nor our own can reach past the values it was given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["plain"]

_PLAIN_SCALARS = (str, int, float, bool, type(None))
_EXACT_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any, _depth: int = 0) -> Any:
    """A deep copy of ``value`` made only of plain data; raises TypeError for anything else."""
    if _depth > 12:
        raise TypeError("context nested too deeply")
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, list | tuple):
        return [plain(v, _depth + 1) for v in value]
    if isinstance(value, Mapping):
        out = {}
        # A page's context is mostly strings (its texts: ≈ 200 per page): values of exactly a
        # scalar type are taken here, not through a call each. The same answer as the call:
        # only where the call would not have refused the depth (a leaf one level too deep).
        leaf_ok = _depth < 12
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"context key {k!r} is not a string")
            out[k] = v if leaf_ok and type(v) in _EXACT_SCALARS else plain(v, _depth + 1)
        return out
    raise TypeError(f"context value of type {type(value).__name__} is not plain data")
