"""The one check for a ``next=`` target a console route redirects to after login or a toggle.

Everything in ``next`` comes from the visitor: only a same-site absolute path is followed. Control
characters and whitespace are refused as well as foreign hosts, because Werkzeug refuses a newline in
a ``Location`` header (an HTTP 500 instead of a redirect) and browsers strip tabs/newlines in URLs,
which turns ``/\\t/evil.example`` into ``//evil.example``.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

MAX_NEXT_LENGTH = 2048


def _has_control_or_space(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a same-site path (``/noc/...``), else None (caller uses its default)."""
    if not target or len(target) > MAX_NEXT_LENGTH or _has_control_or_space(target):
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None
