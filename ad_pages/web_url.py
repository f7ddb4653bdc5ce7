"""The one check of a stored web address (post-login redirect, ad click-through, operator URL).

Every URL a venue or the operator stores is sent to phones in a ``Location`` header, where
Werkzeug and the browser parse it again. So a URL is accepted only when every parser agrees on
it: http(s), a host, a port that exists (``:99999`` made Werkzeug raise on every redirect: a 500
on each phone's continue or click), no userinfo (``a@b`` is read differently by browsers and
Python), no backslashes or control characters. Used when a URL is saved AND when it is used (a
URL stored by an earlier version is refused there, and the phone gets the fallback).
"""
from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["MAX_WEB_URL", "web_url_problem"]

MAX_WEB_URL = 2_000


def web_url_problem(url: str) -> str | None:
    """Why ``url`` is no usable http(s) address (English, for logs), or None when it is."""
    if not url:
        return "empty"
    if len(url) > MAX_WEB_URL:
        return "too long"
    if "\\" in url or any(ord(ch) <= 32 or ord(ch) == 127 for ch in url):
        return "backslash, space or control character"
    try:
        parts = urlsplit(url)
        port = parts.port           # ValueError when out of 0..65535 or not a number
        host = parts.hostname
    except ValueError as exc:
        return f"unparsable: {exc}"
    if parts.scheme not in ("http", "https"):
        return "not http(s)"
    if not host:
        return "no host"
    if "@" in parts.netloc:
        return "user information in the address"
    if port is not None and not 1 <= port <= 65535:
        return "port out of range"
    return None
