"""Words of the phone pages the web layer writes itself, not from a template (zh, en): the
gateway handoff and logout pages, and the demo SMS outbox.

Audience: the phone user (the outbox: whoever tries the demo). The templated phone pages take
their words from ``ad_pages/texts.py``, error messages from ``portal/web/errors.py`` (the phone's
error-code catalog); the other areas keep their own ``texts.py`` / ``*_texts.py`` catalogs
(docs/architecture.md, "Where words live"). Entries with markup stay markup: ``{link}`` is filled
with an HTML-escaped URL.
"""

from __future__ import annotations

__all__ = [
    "DEMO_OUTBOX_EMPTY",
    "DEMO_OUTBOX_HEADING",
    "GATEWAY_LOGIN_REFUSED",
    "GATEWAY_LOGIN_RETRY",
    "GATEWAY_LOGIN_STALE",
    "GATEWAY_LOGIN_TAP",
    "GATEWAY_LOGIN_TITLE",
    "GATEWAY_LOGIN_WORKING",
    "GATEWAY_LOGOUT_CANNOT",
    "GATEWAY_LOGOUT_TITLE",
    "GATEWAY_LOGOUT_WORKING",
]

# The logout page on a gateway kind (portal/web/phone/gateway_phone.py: logout_page).
GATEWAY_LOGOUT_TITLE = ("下线", "Log out")
GATEWAY_LOGOUT_CANNOT = ("该 Wi-Fi 网关无法从门户下线：会话将在登录时设定的时长或流量用完时结束。",
                         "This Wi-Fi gateway cannot be logged out from the portal: the session ends when the "
                         "time or data given at login runs out.")
GATEWAY_LOGOUT_WORKING = ('正在 Wi-Fi 网关上下线……如未自动跳转，请<a href="{link}">点此完成下线</a>。',
                          'Logging out at the Wi-Fi gateway… If nothing happens, <a href="{link}">tap here '
                          'to finish</a>.')

# The CoovaChilli JSON handoff page (gateway_phone.py: handoff_page).
GATEWAY_LOGIN_TITLE = ("登录", "Log in")
GATEWAY_LOGIN_WORKING = ("正在 Wi-Fi 网关上登录……", "Logging in at the Wi-Fi gateway…")
GATEWAY_LOGIN_REFUSED = ("登录被拒绝：", "Login refused: ")    # the gateway's own message follows
GATEWAY_LOGIN_RETRY = ("重新登录", "Log in again")
GATEWAY_LOGIN_TAP = ("如未自动完成，请点此继续", "If nothing happens, tap here to continue")
GATEWAY_LOGIN_STALE = ("登录页已过期", "This login page expired")   # shown by the page's script

# The demo SMS outbox (demo_outbox.py): one page in both languages.
DEMO_OUTBOX_HEADING = "短信发件箱（演示）/ SMS outbox (demo)"
DEMO_OUTBOX_EMPTY = "（暂无短信 / no messages yet）"
