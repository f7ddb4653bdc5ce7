"""Words on the phone pages, in Simplified Chinese and English.

Audience: the phone user. Templates get the table of one language as ``t`` (plain strings only);
the operator's default ad (``ad_pages.ads.DEFAULT_AD``) takes its words from here too. Error
messages are not here: ``portal/web/errors.py`` maps the login page's error codes to messages.
What the venue operator reads about campaigns and templates is in ``ad_pages/editor_texts.py``;
the SMS library's words in ``sms_gateway/texts.py``, the AC adapters' in ``ac_adapters/texts.py``,
each portal area's in its own ``texts.py``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_AD_TEXT", "DEFAULT_AD_TITLE", "LANGUAGES", "texts"]

LANGUAGES = ("zh", "en")

# The operator's default ad (ad_pages.ads.DEFAULT_AD), shown when no campaign is eligible.
DEFAULT_AD_TITLE = ("无线城市 · 免费上网", "Wireless City · free Wi-Fi")
DEFAULT_AD_TEXT = ("办理宽带与 5G 套餐，享更多上网时长。", "Get broadband or a 5G plan for more online time.")

_TEXTS: dict[str, tuple[str, str]] = {
    "title": ("免费无线上网", "Free Wi-Fi"),
    "welcome": ("欢迎使用", "Welcome to"),
    "phone_label": ("手机号码", "Mobile number"),
    "phone_placeholder": ("请输入手机号", "Your mobile number"),
    "get_code": ("获取验证码", "Get code"),
    "resend": ("重新获取", "Resend"),
    "resend_in": ("秒后可重新获取", "s until resend"),
    "code_label": ("短信验证码", "SMS code"),
    "code_placeholder": ("6 位验证码", "6-digit code"),
    "code_sent": ("验证码已发送至", "Code sent to"),
    "login": ("登录上网", "Connect"),
    "terms": ("登录即表示同意《上网服务协议》，依法实名上网。",
              "By connecting you accept the terms of service; access is registered by real name."),
    "success_title": ("登录成功", "You are online"),
    "success_text": ("您已连接互联网。", "You are connected to the Internet."),
    "redirect_in": ("秒后自动跳转", "s until you are taken to"),
    "go_now": ("立即前往", "Go now"),
    "status": ("上网状态", "Connection status"),
    "ad_title": ("推荐", "Sponsored"),
    "ad_wait": ("秒后自动连接网络", "s until you are connected"),
    "ad_continue": ("继续上网", "Continue"),
    "ad_welcome_back": ("欢迎回来", "Welcome back"),
    "status_title": ("上网状态", "Connection status"),
    "online": ("在线", "Online"),
    "offline": ("未在线", "Offline"),
    "plan": ("套餐", "Plan"),
    "time_left": ("剩余时长", "Time left"),
    "data_left": ("剩余流量", "Data left"),
    "rate": ("速率", "Speed"),
    "devices": ("在线设备", "Devices online"),
    "unlimited": ("不限", "Unlimited"),
    "logout": ("下线", "Log out"),
    "logged_out": ("您已下线。", "You are logged out."),
    "login_again": ("登录上网", "Log in"),
    "offline_help": ("如需继续上网，请点击下方按钮重新登录。",
                     "To go online again, tap the button below to log in."),
    "offline_unknown": ("本页面无法识别您的 Wi-Fi 连接。请确认已连接本 Wi-Fi，然后点击下方按钮"
                        "（或打开任意以 http:// 开头的网址），网络会自动带您进入登录页面。",
                        "This page cannot tell which Wi-Fi connection you are on. Make sure you are "
                        "connected to this Wi-Fi, then tap the button below (or open any http:// web "
                        "address): the network will take you to the login page."),
    "online_elsewhere": ("此设备已在线。为保护隐私，套餐和剩余额度只在登录时使用的浏览器中显示"
                         "（登录成功页上的“上网状态”链接）。",
                         "This device is online. For privacy, its plan and what is left are shown "
                         "only in the browser you logged in with (the Connection status link on the "
                         "success page)."),
    "error_title": ("出错了", "Something went wrong"),
    "retry": ("返回重试", "Try again"),
    "lang_switch": ("English", "中文"),
}


def texts(lang: str) -> dict[str, str]:
    """Every UI string in ``lang`` ("zh" or "en"; anything else reads as "zh")."""
    i = 1 if lang == "en" else 0
    return {k: v[i] for k, v in _TEXTS.items()}
