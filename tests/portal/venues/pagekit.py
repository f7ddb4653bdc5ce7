"""Page sources for tests that publish a login or ad page: publishing refuses a page without
the forms phones need (ad_pages/forms.py), so a test page carries them."""

from __future__ import annotations

__all__ = ["AD_FORM", "LOGIN_FORMS", "ad_page", "login_page"]

LOGIN_FORMS = ('<form method="post" action="{{ urls.login }}"><input type="hidden" name="c" value="{{ c }}">'
               '<input name="phone" type="tel">'
               '<button type="submit" formaction="{{ urls.code }}">code</button>'
               '<input name="code"><button type="submit">login</button></form>')
AD_FORM = ('<form method="post" action="{{ urls.next }}"><input type="hidden" name="c" value="{{ c }}">'
           '<input type="hidden" name="ticket" value="{{ ticket }}"><button>go</button></form>')


def login_page(body: str) -> str:
    """``body`` followed by the login page's forms."""
    return body + LOGIN_FORMS


def ad_page(body: str) -> str:
    """``body`` followed by the ad page's continue form."""
    return body + AD_FORM
