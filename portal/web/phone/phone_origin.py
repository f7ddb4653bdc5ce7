"""Where a phone POST comes from, and reading it without tripping over its size.

* :func:`foreign_origin`: the same-origin check of phone POSTs (CSRF): an ``Origin`` naming
  another site is foreign; a missing one falls back to the token rules (old browsers send none).
  ``Origin: null`` (an opaque origin) is not same-origin either, but our own venue pages are
  served sandboxed (``portal.web.phone.venue_csp``), so their forms send it: it is accepted only for
  a form navigation (``Sec-Fetch-Mode: navigate`` where the browser sends fetch metadata), never
  for a scripted request (``fetch``/XHR from a sandboxed frame or a ``data:`` page), and the
  view still requires the page's token, which venue code cannot read (``portal.web.phone.late_tokens``).
* :func:`form_or_query`: a form or query value, never raising on a body over
  ``MAX_CONTENT_LENGTH`` (the 413 page itself reads ``lang``).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ac_adapters.log_limit import LogLimiter
from portal.web.wiring import this_request

__all__ = ["LogLimiter", "foreign_origin", "form_or_query"]


def foreign_origin(public_url: str) -> bool:
    """A POST whose ``Origin`` is another site, or ``null`` on anything but a form navigation."""
    origin = request.headers.get("Origin", "").strip()
    if not origin:
        return False
    if origin == "null":
        return request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate"
    host = (urlsplit(origin).hostname or "").lower()
    ours = {(urlsplit("//" + request.host).hostname or "").lower()}
    if public_url:
        ours.add((urlsplit(public_url).hostname or "").lower())
    return host not in ours


def form_or_query(name: str) -> str:
    """``request.values[name]`` or "", with the query alone when the body is too large."""
    # `in` before get(): werkzeug's get() raises and catches an HTTPException on a miss, and
    # most requests carry no "lang" (asked twice per page).
    try:
        values = this_request().values
        return values.get(name, "") if name in values else ""
    except RequestEntityTooLarge:
        args = this_request().args
        return args.get(name, "") if name in args else ""
