"""Words of the AC adapters, in Simplified Chinese and English: what a phone user reads.

Audience: the phone user — why the portal cannot serve the AC's redirect (shown on the error
page), and the outcome of a Portal-protocol login. Entries are ``(zh, en)`` pairs keyed by the
stable code the adapters already use. The other catalogs: the phone pages' words in
``ad_pages/texts.py``, the login page's error codes in ``portal/web/errors.py``, the SMS library's
in ``sms_gateway/texts.py``, each portal area's own ``texts.py``; the simulated AC's reply texts
are in ``ac_adapters/simulator/texts.py``.
"""

from __future__ import annotations

__all__ = ["LOGIN_RESULTS", "REDIRECT_ERRORS"]

# ac_adapters.redirect error code → message.
REDIRECT_ERRORS: dict[str, tuple[str, str]] = {
    "unknown_ac": ("无法识别接入设备（AC），请重新连接 Wi-Fi",
                   "We could not identify your access controller; please reconnect to the Wi-Fi"),
    "missing_user_ip": ("接入设备未提供您的 IP 地址，请重新连接 Wi-Fi 后再打开任意网页",
                        "Your access controller did not send your IP address; please reconnect to "
                        "the Wi-Fi and open any web page again"),
    "bad_user_ip": ("接入设备提供的 IP 地址无效，请重新连接 Wi-Fi",
                    "Your access controller sent an invalid IP address; please reconnect to the Wi-Fi"),
    "bad_mac": ("无法识别您设备的 MAC 地址，请重新连接 Wi-Fi",
                "We could not read your device's MAC address; please reconnect to the Wi-Fi"),
    "unvouched_redirect": ("无法验证接入设备的跳转参数，请重新连接 Wi-Fi",
                           "The access controller's redirect could not be verified; please reconnect "
                           "to the Wi-Fi"),
}

# Outcome kind of a Portal-protocol login (ac_adapters.exchange) → message.
LOGIN_RESULTS: dict[str, tuple[str, str]] = {
    "ok": ("已连接，可以上网了。", "You are online."),
    "rejected": ("认证失败，请重新获取验证码后再试。",
                 "Login was rejected; request a new code and try again."),
    "unknown_device": ("Wi-Fi设备未识别此终端，请重新连接Wi-Fi后再试。",
                       "The Wi-Fi controller does not know this device; reconnect to the Wi-Fi and retry."),
    "busy": ("正在认证中，请稍候再试。", "A login is already in progress; please retry in a moment."),
    "failed": ("Wi-Fi设备暂时无法完成认证，请稍后再试。",
               "The Wi-Fi controller could not log you in; please retry later."),
    "timeout": ("Wi-Fi设备无响应，请稍后再试。",
                "The Wi-Fi controller did not answer; please try again later."),
}
