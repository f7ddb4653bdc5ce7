"""What the phone user reads from the SMS-code service (zh, en): the OTP refusals and rejections,
the wait they name, and the code's SMS.

Audience: the phone user. ``portal.phone.otp_errors`` fills these into its errors' ``message_zh``
/ ``message_en``; ``portal.phone.otp.IssuedCode.sms_text`` writes the SMS. What the login pages
show for an error code is ``portal/web/errors.py`` (the phone's error-code catalog), the page
words are ``ad_pages/texts.py``, why AAA refused is ``portal/aaa/texts.py``; the other areas keep
their own ``texts.py`` / ``*_texts.py`` catalogs (docs/architecture.md, "Where words live").
"""

from __future__ import annotations

__all__ = ["OTP_MESSAGES", "SMS_CODE", "wait_texts"]

# code → (zh, en); "{wait_zh}"/"{wait_en}" are filled with the retry-after, "{left}" with tries left.
OTP_MESSAGES: dict[str, tuple[str, str]] = {
    "no_device": ("无法识别您的设备，请重新连接 Wi-Fi 后再试。",
                  "Your device could not be identified; reconnect to the Wi-Fi and try again."),
    "blocked": ("该号码或设备已被停止服务，请联系客服。",
                "This number or device has been blocked; please contact customer service."),
    "resend_too_soon": ("验证码已发送，请{wait_zh}后再重新获取。",
                        "A code was just sent; you can ask for a new one in {wait_en}."),
    "phone_hourly_cap": ("该号码获取验证码过于频繁，请{wait_zh}后再试。",
                         "Too many codes for this number; try again in {wait_en}."),
    "phone_daily_cap": ("该号码今日获取验证码次数已达上限，请{wait_zh}后再试。",
                        "This number has reached today's code limit; try again in {wait_en}."),
    "device_hourly_cap": ("本设备获取验证码过于频繁，请{wait_zh}后再试。",
                          "Too many codes for this device; try again in {wait_en}."),
    "device_daily_cap": ("本设备今日获取验证码次数已达上限，请{wait_zh}后再试。",
                         "This device has reached today's code limit; try again in {wait_en}."),
    "ip_hourly_cap": ("当前网络获取验证码过于频繁，请{wait_zh}后再试。",
                      "Too many codes from this network address; try again in {wait_en}."),
    "ip_daily_cap": ("当前网络今日获取验证码次数已达上限，请{wait_zh}后再试。",
                     "This network address has reached today's code limit; try again in {wait_en}."),
    "ac_rate": ("当前热点请求过多，请{wait_zh}后再试。",
                "This hotspot is busy; try again in {wait_en}."),
    "global_budget": ("短信发送繁忙，请{wait_zh}后再试。",
                      "The SMS service is busy; try again in {wait_en}."),
    "wrong_code": ("验证码错误，还可以再试 {left} 次。", "Wrong code; {left} tries left."),
    "expired": ("验证码已过期，请重新获取。", "The code has expired; please ask for a new one."),
    "no_code": ("此号码尚未获取验证码，请先点击“获取验证码”。",
                "No code was sent to this number yet: tap Get code first."),
    "used": ("验证码已使用，请重新获取。", "The code has already been used; please ask for a new one."),
    "too_many_attempts": ("验证码错误次数过多，请重新获取。",
                          "Too many wrong tries; please ask for a new code."),
    "wrong_device": ("请在获取验证码的设备上输入验证码。",
                     "Enter the code on the device that asked for it."),
}

# The SMS carrying a code (signature first, as Chinese gateways require): {signature}, {code},
# {minutes} (how long it is valid).
SMS_CODE = ("{signature}您的上网验证码是{code}，{minutes}分钟内有效，请勿泄露给他人。",
            "{signature}Your Wi-Fi login code is {code}, valid for {minutes} minutes. Do not share it.")


def wait_texts(seconds: int) -> tuple[str, str]:
    """How long to wait, (zh, en): seconds under two minutes, minutes under two hours, else
    hours (rounded up)."""
    if seconds < 120:
        return f"{seconds} 秒", f"{seconds} seconds"
    if seconds < 7200:
        minutes = -(-seconds // 60)
        return f"{minutes} 分钟", f"{minutes} minutes"
    hours = -(-seconds // 3600)
    return f"{hours} 小时", f"{hours} hours"
