"""The shipped page templates, loadable by exact name only.

A venue template may ``{% extends %}``, ``{% include %}`` or ``{% import %}`` the shipped
``default/*.html`` files. Those names come from hostile source, so they are never turned into
paths: the loader reads the fixed list below once (names built from constants, never from a
request) and answers ``get_source`` with a dictionary lookup. An absolute name, ``..``, a
backslash, a NUL, another venue's page or anything not on the list is simply not a key, so it is
:class:`jinja2.TemplateNotFound` — there is no file-system path a template name can reach.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from jinja2 import BaseLoader, TemplateNotFound

__all__ = ["PAGES", "SHIPPED_TEMPLATES", "THEMES", "ShippedLoader", "shipped_scripts", "shipped_source"]

PAGES = ("login", "success", "ad", "status", "error")
"""The pages a venue can write (one template each)."""

THEMES = ("default",)
"""Folders of shipped templates under ``ad_pages/templates``."""

SHIPPED_TEMPLATES = ("base", *PAGES)
"""The files of every theme: ``<theme>/<name>.html``."""


def _read(theme: str, name: str) -> str:
    return resources.files("ad_pages").joinpath("templates", theme, f"{name}.html").read_text("utf-8")


_SOURCES: dict[str, str] = {}


def _sources() -> dict[str, str]:
    """Every shipped template by its public name (read once per process)."""
    if not _SOURCES:
        _SOURCES.update({f"{theme}/{name}.html": _read(theme, name)
                         for theme in THEMES for name in SHIPPED_TEMPLATES})
    return _SOURCES


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_SCRIPTS: dict[str, str] = {}


def shipped_scripts() -> dict[str, str]:
    """The inline scripts of the shipped templates, each → its CSP hash source ``'sha256-…'``
    (computed once per process). Each is constant text — the values it needs come from data
    attributes of the page — so its hash is the hash of the script every phone gets, and a venue
    page holding one unchanged may run it (``portal/web/phone/venue_csp.py``). A shipped script with
    template syntax in it would hash differently on every page: refused here, at start-up."""
    if not _SCRIPTS:
        for name, source in _sources().items():
            for body in _INLINE_SCRIPT.findall(source):
                if "{{" in body or "{%" in body or "{#" in body:
                    raise ValueError(f"shipped {name}: an inline script must be constant text")
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                _SCRIPTS[body] = f"'sha256-{digest}'"
    return _SCRIPTS


def shipped_source(name: str) -> str:
    """The source of shipped template ``name`` (e.g. ``"default/login.html"``); KeyError otherwise."""
    return _sources()[name]


class ShippedLoader(BaseLoader):
    """A Jinja2 loader over :data:`SHIPPED_TEMPLATES` of :data:`THEMES` — nothing else."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Callable[[], bool]]:
        source = _sources().get(template) if isinstance(template, str) else None
        if source is None:
            # The refused name goes back to the venue's editor; keep it short and printable.
            raise TemplateNotFound(repr(template)[:80])
        return source, None, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(_sources())
