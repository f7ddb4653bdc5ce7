"""Demo mode only (``citywifi up --demo``): where the SMS codes "arrive" — the file backend's
outbox shown as a page, newest first. Never registered outside demo mode."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response
from markupsafe import escape

from portal.web import services
from portal.web.phone.texts import DEMO_OUTBOX_EMPTY, DEMO_OUTBOX_HEADING

__all__ = ["bp", "outbox_dir"]

bp = Blueprint("demo", __name__)


def outbox_dir() -> Path:
    settings = services().settings
    return Path(settings.sms.outbox_dir or Path(settings.data_dir) / "sms-outbox")


@bp.get("/demo/outbox")
def outbox() -> Response:
    rows = []
    folder = outbox_dir()
    files = sorted(folder.glob("*.json"), reverse=True)[:50] if folder.is_dir() else []
    for path in files:
        try:
            msg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rows.append(f"<tr><td>{escape(str(msg.get('phone', '')))}</td><td class=t>"
                    f"{escape(str(msg.get('text', '')))}</td></tr>")
    body = "".join(rows) or f"<tr><td colspan=2>{DEMO_OUTBOX_EMPTY}</td></tr>"
    html = ("<!doctype html><html lang=zh-CN><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            "<meta http-equiv=refresh content=3><title>SMS outbox (demo)</title>"
            "<style>body{font:15px sans-serif;margin:16px}td{border-bottom:1px solid #ddd;padding:6px}"
            f".t{{font-family:monospace}}</style><h1>{DEMO_OUTBOX_HEADING}</h1>"
            f"<table id=outbox>{body}</table>")
    return Response(html, mimetype="text/html")
