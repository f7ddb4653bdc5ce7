"""The OTP error tree (re-exported by ``portal.phone.otp``): every refusal and rejection carries a
stable ``code`` and the phone user's message in Chinese and English (the catalog
``portal.phone.texts``)."""

from __future__ import annotations

from portal.errors import CitywifiError
from portal.phone.texts import OTP_MESSAGES as MESSAGES
from portal.phone.texts import wait_texts as _wait

__all__ = ["MESSAGES", "OtpError", "OtpRefused", "OtpRejected"]


class OtpError(CitywifiError):
    """Base of OTP errors: ``code`` plus the phone user's message in Chinese and English."""

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang.startswith("en") else self.message_zh


class OtpRefused(OtpError):
    """No code was issued; ``retry_after`` seconds until asking again can succeed (0 = not a wait)."""

    def __init__(self, code: str, message_zh: str, message_en: str, retry_after: int = 0) -> None:
        super().__init__(code, message_zh, message_en)
        self.retry_after = retry_after

    @classmethod
    def of(cls, code: str, retry_after: int = 0) -> OtpRefused:
        wait_zh, wait_en = _wait(retry_after)
        zh, en = MESSAGES[code]
        return cls(code, zh.format(wait_zh=wait_zh), en.format(wait_en=wait_en), retry_after)


class OtpRejected(OtpError):
    """A code was not accepted: wrong_code, expired, no_code, used, too_many_attempts or wrong_device."""

    def __init__(self, code: str, attempts_left: int = 0) -> None:
        zh, en = MESSAGES[code]
        super().__init__(code, zh.format(left=attempts_left), en.format(left=attempts_left))
        self.attempts_left = attempts_left
