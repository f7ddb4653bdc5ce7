"""The phone's error-code catalog: what the phone user reads (zh/en) for each error code a phone
page or the phone's JSON answers can show, and its HTTP status.

Codes come from ``portal.phone.login.LoginError`` (which wraps OTP refusals/rejections, number
policy, quota refusals, AC outcomes and redirect problems). Every failure is logged with its
code by the view that caught it; pages never show a stack trace. The other words of the phone
pages are ``ad_pages/texts.py``; the texts behind some codes, as the services word them, are
``portal/phone/texts.py`` (SMS code) and ``portal/aaa/texts.py`` (refusals, Reply-Message); the
other areas keep their own ``texts.py`` / ``*_texts.py`` catalogs (docs/architecture.md,
"Where words live").
"""

# ruff: noqa: E501  (a message table: one code per line reads best; CJK counts double)
from __future__ import annotations

from dataclasses import dataclass

from portal.phone.texts import wait_texts

__all__ = ["ERRORS", "UserError", "user_error"]


def _wait(seconds: int, lang: str) -> str:
    return wait_texts(seconds)[0 if lang == "zh" else 1]


def _tries(left: int, lang: str) -> str:
    if lang == "zh":
        return f"{left} 次"
    return "1 try" if left == 1 else f"{left} tries"


def _operator(carriers: tuple[str, ...], lang: str) -> str:
    """"中国电信" / "China Telecom or China Unicom": the operators whose numbers are served
    (``number_policy.allowed_carriers``), for refusals that should say which number would work."""
    from sms_gateway.segments import CARRIER_NAMES, Carrier

    names = []
    for value in carriers:
        try:
            names.append(CARRIER_NAMES[Carrier(value)][0 if lang == "zh" else 1])
        except (ValueError, KeyError):
            continue
    if not names:
        return "本运营商" if lang == "zh" else "this operator's"
    return "或".join(names) if lang == "zh" else " or ".join(names)


_RATE = ("请{wait}后再试。", "Please try again in {wait}.")
_NOT_OPERATOR = ("该号码不是本运营商的手机号码，无法获取验证码。",
                 "This is not a mobile number of this operator; no code can be sent to it.")

# code → (zh, en, HTTP status). Placeholders: {wait}, {tries} ("4 tries"), {reply}, {operator}
# (the operators whose numbers are served).
ERRORS: dict[str, tuple[str, str, int]] = {
    # SMS code
    "phone_missing": ("请输入手机号码。", "Please enter your mobile number.", 400),
    "invalid_number": ("手机号码格式不正确，请输入 11 位中国大陆手机号码。",
                       "That is not a valid mobile number: please enter an 11-digit mainland China mobile number.", 400),
    "not_mainland": ("本 Wi-Fi 仅服务中国大陆的{operator}手机号码，无法向该号码发送验证码。",
                     "This Wi-Fi only serves {operator} mobile numbers from mainland China; no code can be sent to this number.", 403),
    "wrong_code": ("验证码错误，还可以再试 {tries}。", "Wrong code; {tries} left.", 400),
    "expired": ("验证码已过期，请重新获取。", "The code has expired; please ask for a new one.", 400),
    "no_code": ("此号码尚未获取验证码，请先点击“获取验证码”。",
                "No code was sent to this number yet: tap Get code first.", 400),
    "used": ("验证码已使用，请重新获取。", "This code was already used; please ask for a new one.", 400),
    "too_many_attempts": ("验证码错误次数过多，请重新获取。",
                          "Too many wrong tries; please ask for a new code.", 429),
    "wrong_device": ("请在获取验证码的设备上输入验证码。",
                     "Enter the code on the device that asked for it.", 400),
    "no_device": ("无法识别您的设备，请重新连接 Wi-Fi 后再试。",
                  "Your device could not be identified; reconnect to the Wi-Fi and try again.", 400),
    "blocked": ("该号码或设备已被停止服务，请联系客服。",
                "This number or device is blocked; please contact customer service.", 403),
    "resend_too_soon": ("验证码已发送，请{wait}后再重新获取。",
                        "A code was just sent; you can ask for a new one in {wait}.", 429),
    "phone_hourly_cap": ("该号码获取验证码过于频繁，" + _RATE[0], "Too many codes for this number. " + _RATE[1], 429),
    "phone_daily_cap": ("该号码今日获取验证码次数已达上限，" + _RATE[0],
                        "This number has reached today's code limit. " + _RATE[1], 429),
    "device_hourly_cap": ("本设备获取验证码过于频繁，" + _RATE[0], "Too many codes for this device. " + _RATE[1], 429),
    "device_daily_cap": ("本设备今日获取验证码次数已达上限，" + _RATE[0],
                         "This device has reached today's code limit. " + _RATE[1], 429),
    "ip_hourly_cap": ("当前网络获取验证码过于频繁，" + _RATE[0], "Too many codes from this network. " + _RATE[1], 429),
    "ip_daily_cap": ("当前网络今日获取验证码次数已达上限，" + _RATE[0],
                     "This network has reached today's code limit. " + _RATE[1], 429),
    "ac_rate": ("当前热点请求过多，" + _RATE[0], "This hotspot is busy. " + _RATE[1], 429),
    "global_budget": ("短信发送繁忙，" + _RATE[0], "The SMS service is busy. " + _RATE[1], 429),
    # number policy (not an operator number)
    "denied": (*_NOT_OPERATOR, 403),
    "carrier_unknown": ("无法确认该号码的运营商。本 Wi-Fi 仅服务{operator}手机号码。",
                        "The operator of this number could not be confirmed; this Wi-Fi only serves {operator} mobile numbers.", 403),
    "carrier_not_allowed": ("该号码不是本运营商的手机号码，无法获取验证码。本 Wi-Fi 仅服务{operator}手机号码。",
                            "This is not a mobile number of this operator; no code can be sent to it. This Wi-Fi only serves {operator} mobile numbers.", 403),
    "kind_not_allowed": ("该类号码（如物联网卡）不能用于上网认证。",
                         "This kind of number (e.g. IoT) cannot be used to log in.", 403),
    "region_unknown": ("无法确认该号码的归属地，暂不能使用。",
                       "The home region of this number is unknown; it cannot be used here.", 403),
    "region_not_allowed": ("本热点仅限本地号码使用。", "This hotspot is for local numbers only.", 403),
    "lookup_failed": ("号码校验暂不可用，请稍后再试。", "Number check is unavailable; please try again later.", 503),
    "not_subscriber": ("最近发往该号码的短信无法送达（空号、已携号转网或不能接收短信），暂不能获取验证码，请使用其他号码。",
                       "Recent SMS to this number could not be delivered (unknown or ported-out number, or no SMS service); no code can be sent to it for now. Please use another number.", 403),
    # plan and quota
    "plan_expired": ("您的套餐已过期。", "Your plan has expired.", 403),
    "daily_time_used": ("今日上网时长已用完，请明天再来。",
                        "Today's online time is used up. Please come back tomorrow.", 403),
    "total_time_used": ("套餐上网时长已用完。", "Your plan's online time is used up.", 403),
    "daily_volume_used": ("今日流量已用完，请明天再来。",
                          "Today's data allowance is used up. Please come back tomorrow.", 403),
    "total_volume_used": ("套餐流量已用完。", "Your plan's data allowance is used up.", 403),
    "too_many_devices": ("同时在线设备已达上限，请先下线其他设备。",
                         "Too many devices online. Log out another device first.", 403),
    "no_plan": ("当前网络暂无可用套餐。", "No plan is available on this network.", 403),
    # the AC
    "ac_timeout": ("接入设备无响应，请稍后重试。", "The access controller did not answer; please try again.", 504),
    "ac_rejected": ("登录被拒绝：{reply}", "Login refused: {reply}", 403),
    "mac_mismatch": ("登录被拒绝：接入控制器报告的设备地址（MAC）与此页面所写的不一致，不能以另一台设备的身份上网。请在您自己的设备上打开任意网页重新登录。",
                     "Login refused: the access controller reports another device address (MAC) than this page named, and no one can go online as another device. Open any web page on your own device to log in.", 403),
    "gateway_online": ("网关显示您已在线，可直接上网。", "The gateway says you are already online; just browse.",
                       409),
    "busy": ("登录人数较多，请{wait}后重试。", "The portal is busy; please try again in {wait}.", 503),
    "state_unavailable": ("系统繁忙，请稍后重试。", "The portal is busy; please try again shortly.", 503),
    # links, redirects, tickets
    "bad_link": ("页面已失效，请重新打开任意网页。", "This page is no longer valid; open any web page again.", 400),
    "link_expired": ("页面已过期，请重新打开任意网页。", "This page has expired; open any web page again.", 400),
    "unknown_ac": ("无法识别接入设备，请重新连接 Wi-Fi。",
                   "We could not identify your access controller; please reconnect to the Wi-Fi.", 400),
    "missing_user_ip": ("请连接 Wi-Fi 后打开任意网页进行登录。",
                        "Connect to the Wi-Fi and open any web page to log in.", 400),
    "bad_user_ip": ("接入设备提供的地址无效，请重新连接 Wi-Fi。",
                    "Your access controller sent an invalid address; please reconnect to the Wi-Fi.", 400),
    "bad_mac": ("无法识别您设备的 MAC 地址，请重新连接 Wi-Fi。",
                "We could not read your device's MAC address; please reconnect to the Wi-Fi.", 400),
    "bad_redirect": ("请连接 Wi-Fi 后打开任意网页进行登录。",
                     "Connect to the Wi-Fi and open any web page to log in.", 400),
    "unvouched_redirect": ("无法验证接入设备的跳转参数，请重新连接 Wi-Fi 后打开任意网页。",
                           "The access controller's redirect could not be verified; reconnect to the Wi-Fi and open any web page.", 400),
    "address_mismatch": ("此页面属于另一台设备：请在连接本 Wi-Fi 的设备上打开任意网页进行登录。",
                         "This page belongs to another device: open any web page on the device that is connected to this Wi-Fi to log in.", 403),
    "device_mismatch": ("此浏览器刚刚用于另一台设备的登录。请关闭页面、重新连接 Wi-Fi，或{wait}后再试。",
                        "This browser was just used to log in another device. Close this page and reconnect to the Wi-Fi, or try again in {wait}.", 403),
    "foreign_request": ("该请求不是从本网站的页面发出的，请使用页面上的按钮操作。",
                        "This request did not come from our page; please use the buttons on the page.", 403),
    "too_early": ("请看完广告，{wait}后自动连接。", "Please wait: you will be connected in {wait}.", 429),
    "ticket_used": ("该页面已使用，请重新打开任意网页。", "This page was already used; open any web page again.", 409),
    "not_bound": ("请使用短信验证码登录。", "Please log in with an SMS code.", 403),
    "not_online": ("您当前未登录。", "You are not logged in.", 403),
    "not_found": ("页面不存在。", "Page not found.", 404),
    "link_not_allowed": ("该链接指向的网站不在本场所的允许列表中，无法打开。",
                         "This link leads to a site that is not allowed at this venue.", 403),
    "method": ("请从登录页面操作。", "Please use the login page.", 405),
    "too_large": ("提交的内容太大，请返回登录页面重试。", "What was sent is too large; please go back to the login page.", 413),
    "internal": ("系统出现问题，请稍后重试。", "Something went wrong on our side; please try again.", 500),
}


@dataclass(frozen=True, slots=True)
class UserError:
    code: str
    message: str
    status: int


def user_error(code: str, lang: str, *, retry_after: int = 0, attempts_left: int | None = None,
               reply_message: str = "", carriers: tuple[str, ...] = ()) -> UserError:
    """The message for ``code`` in ``lang`` ("zh"/"en") and its HTTP status. Unknown codes read
    as "internal" (the code itself still goes to the log). ``carriers``: the number policy's
    ``allowed_carriers``, named in refusals of other numbers."""
    zh, en, status = ERRORS.get(code, ERRORS["internal"])
    lang = "en" if lang == "en" else "zh"
    template = en if lang == "en" else zh
    reply = reply_message.strip() or ("接入设备拒绝" if lang == "zh" else "rejected by the access controller")
    message = template.format(wait=_wait(max(1, retry_after), lang), tries=_tries(attempts_left or 0, lang),
                              reply=reply, operator=_operator(carriers, lang))
    return UserError(code if code in ERRORS else "internal", message, status)
