"""The sms_gateway error tree.

Every error carries a stable ``code`` (for logs, metrics and the web layer's message table) and,
when a phone user may see it, a Simplified Chinese and an English message. Number-policy errors
live at the top; gateway/transport errors are added below by the gateway backends.
"""

from __future__ import annotations

__all__ = [
    "InvalidNumber",
    "LookupFailed",
    "NumberRefused",
    "RegionTableError",
    "SmsError",
]


class SmsError(Exception):
    """Base of every error the sms_gateway library raises on purpose."""

    code: str = "sms_error"
    message_zh: str = "短信服务出错，请稍后再试。"
    message_en: str = "The SMS service failed, please try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        message_zh: str | None = None,
        message_en: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if message_zh is not None:
            self.message_zh = message_zh
        if message_en is not None:
            self.message_en = message_en
        super().__init__(message if message is not None else self.message_en)


# --- number policy -------------------------------------------------------------------------


class InvalidNumber(SmsError):
    """The text is not a valid mainland-China mobile number (wrong length, bad prefix, garbage)."""

    code = "invalid_number"
    message_zh = "请输入有效的中国大陆手机号码。"
    message_en = "Please enter a valid mainland China mobile number."


class NumberRefused(SmsError):
    """A valid number that the operator's policy does not serve; ``code`` says which rule."""

    code = "number_refused"
    message_zh = "该号码不能使用本 Wi-Fi。"
    message_en = "This number cannot use this Wi-Fi."


class LookupFailed(SmsError):
    """The subscriber-lookup endpoint did not answer usably (timeout, 5xx, bad body)."""

    code = "lookup_failed"


class RegionTableError(SmsError):
    """A region CSV could not be parsed; the message names the line."""

    code = "region_table_invalid"


# --- gateway / transport (added by the gateway backends) ------------------------------------
