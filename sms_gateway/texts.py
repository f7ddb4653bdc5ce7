"""Words of the SMS library, in Simplified Chinese and English: what a phone user reads.

Audience: the phone user — the login code SMS itself and, through the portal's login page, why a
number was refused or a code could not be sent. Every entry is a ``(zh, en)`` pair; a text with
parameters is a ``str.format`` template with named fields. The other catalogs: the phone pages'
words in ``ad_pages/texts.py``, the login page's error codes in ``portal/web/errors.py``, each
portal area's own ``texts.py``. Province names (``sms_gateway/regions.py``) are data, not wording.
"""

from __future__ import annotations

__all__ = [
    "ANY_CARRIER", "CARRIER_NAMES", "CARRIER_OR", "ERRORS", "KIND_NAMES", "PLACE_LIST",
    "REFUSALS", "SCOPE", "SCOPE_ANYWHERE", "SMS_TEMPLATES",
]

# Error code (sms_gateway.errors) → message. ``bad_number``, ``rate_limited``, ``content_refused``
# and ``bad_dest_telecom`` are what the gateway backends say for a gateway's own refusal codes.
ERRORS: dict[str, tuple[str, str]] = {
    "sms_error": ("短信服务出错，请稍后再试。", "The SMS service failed, please try again later."),
    "invalid_number": ("请输入有效的中国大陆手机号码。",
                       "Please enter a valid mainland China mobile number."),
    "not_mainland": ("仅支持中国大陆手机号码。", "Only mainland China mobile numbers can be used."),
    "number_refused": ("该号码不能使用本 Wi-Fi。", "This number cannot use this Wi-Fi."),
    "message_too_long": ("短信内容过长，无法发送。", "The message is too long to send as one SMS."),
    "gateway_unavailable": ("短信通道繁忙，请稍后再试。", "The SMS service is busy, please try again later."),
    "gateway_refused": ("该号码无法接收短信，请检查号码后重试。",
                        "This number cannot receive SMS; please check it and try again."),
    "gateway_uncertain": ("短信可能已发出；如未收到，请稍后点击重新获取。",
                          "The SMS may have been sent; if it does not arrive, press resend later."),
    "bad_number": ("号码无效，无法接收短信。", "The number is invalid and cannot receive SMS."),
    "rate_limited": ("发送过于频繁，请稍后再试。",
                     "Too many messages to this number; please wait and try again."),
    "content_refused": ("短信内容被拦截。", "The message content was refused."),
    "bad_dest_telecom": ("号码无效或不是电信号码。", "The number is invalid for this gateway."),
}

# The login code SMS: template name → language → text (``{signature}`` is put in front by
# sms_gateway.messages, which also checks that it fits in one SMS).
SMS_TEMPLATES: dict[str, dict[str, str]] = {
    "otp": {
        "zh": "您的上网验证码是 {code}，{minutes}分钟内有效。",
        "en": "Your Wi-Fi code is {code}, valid for {minutes} min.",
    },
}

# --- number policy refusals (sms_gateway.policy) -----------------------------------------------

# Carrier (sms_gateway.segments.Carrier value) → name in refusal messages.
CARRIER_NAMES: dict[str, tuple[str, str]] = {
    "telecom": ("中国电信", "China Telecom"),
    "mobile": ("中国移动", "China Mobile"),
    "unicom": ("中国联通", "China Unicom"),
    "broadnet": ("中国广电", "China Broadnet"),
    "satnet": ("中国星网", "China Satnet"),
    "other": ("其他运营单位", "another operator"),
    "unknown": ("未知运营商", "an unknown carrier"),
}

# Number kind (sms_gateway.segments.Kind value) → name in refusal messages.
KIND_NAMES: dict[str, tuple[str, str]] = {
    "regular": ("普通", "Regular"),
    "data": ("上网卡", "Data-card"),
    "iot": ("物联网", "IoT"),
    "virtual": ("虚拟运营商", "Virtual-operator"),
    "satellite": ("卫星", "Satellite"),
}

# What the policy admits ({scope} below): carriers joined by CARRIER_OR, places by PLACE_LIST.
SCOPE = ("{where}{carriers}号码", "{carriers} numbers of {where}")
SCOPE_ANYWHERE = ("{carriers}号码", "{carriers} numbers")
CARRIER_OR = ("或", " or ")
PLACE_LIST = ("、", ", ")
ANY_CARRIER = ("指定运营商", "selected carriers'")

# Refusal code → message; {scope} is SCOPE filled in, {carrier}/{kind} a name from above,
# {where} the number's home region.
REFUSALS: dict[str, tuple[str, str]] = {
    "denied": ("该号码不能使用本 Wi-Fi。", "This number cannot use this Wi-Fi."),
    "carrier_not_allowed": ("仅限{scope}使用本 Wi-Fi，该号码属于{carrier}。",
                            "Only {scope} can use this Wi-Fi; this number belongs to {carrier}."),
    "carrier_unknown": ("仅限{scope}使用本 Wi-Fi，无法确认该号码的运营商。",
                        "Only {scope} can use this Wi-Fi; the carrier of this number is unknown."),
    "kind_not_allowed": ("{kind}号码不能使用本 Wi-Fi，仅限{scope}使用。",
                         "{kind} numbers cannot use this Wi-Fi. Only {scope} can use it."),
    "no_sms_service": ("该号码无法接收短信，不能获取验证码，请使用其他号码。",
                       "This number cannot receive SMS, so no code can be sent to it; please use another "
                       "number."),
    "not_subscriber": ("最近发往该号码的短信无法送达（空号或已携号转网），暂不能获取验证码。"
                       "仅限{scope}使用本 Wi-Fi。",
                       "Recent SMS to this number could not be delivered (unknown or ported-out number), "
                       "so no code can be sent to it for now. Only {scope} can use this Wi-Fi."),
    "region_unknown": ("无法确认该号码的归属地，仅限{scope}使用本 Wi-Fi。",
                       "The home region of this number is unknown. Only {scope} can use this Wi-Fi."),
    "region_not_allowed": ("仅限{scope}使用本 Wi-Fi，该号码归属{where}。",
                           "Only {scope} can use this Wi-Fi; this number is from {where}."),
}
