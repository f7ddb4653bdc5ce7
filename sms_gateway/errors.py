"""The sms_gateway error tree.

Every error carries a stable ``code`` (for logs, metrics and the web layer's message table) and,
when a phone user may see it, a Simplified Chinese and an English message. Number-policy errors
live at the top; gateway/transport errors are added below by the gateway backends.
"""

from __future__ import annotations

from sms_gateway.texts import ERRORS

__all__ = [
    "GatewayError",
    "GatewayPermanentError",
    "GatewayTransientError",
    "GatewayUncertainError",
    "InvalidNumber",
    "LookupFailed",
    "MessageTooLong",
    "NumberRefused",
    "PduError",
    "RegionTableError",
    "SmsError",
]


class SmsError(Exception):
    """Base of every error the sms_gateway library raises on purpose."""

    code: str = "sms_error"
    message_zh: str = ERRORS["sms_error"][0]
    message_en: str = ERRORS["sms_error"][1]

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
    message_zh, message_en = ERRORS["invalid_number"]


class NumberRefused(SmsError):
    """A valid number that the operator's policy does not serve; ``code`` says which rule."""

    code = "number_refused"
    message_zh, message_en = ERRORS["number_refused"]


class LookupFailed(SmsError):
    """The subscriber-lookup endpoint did not answer usably (timeout, 5xx, bad body)."""

    code = "lookup_failed"


class RegionTableError(SmsError):
    """A region CSV could not be parsed; the message names the line."""

    code = "region_table_invalid"


# --- gateway / transport (added by the gateway backends) ------------------------------------


class PduError(SmsError):
    """Bytes from a gateway (or a test) are not a valid PDU; the message says which field."""

    code = "pdu_invalid"


class MessageTooLong(SmsError):
    """A rendered message (signature included) would not fit in one SMS (70 UCS2 units)."""

    code = "message_too_long"
    message_zh, message_en = ERRORS["message_too_long"]


class GatewayError(SmsError):
    """A gateway did not take the message. Subclasses say whether another try may help."""

    code = "gateway_error"


class GatewayTransientError(GatewayError):
    """Definitely NOT sent (no connection, login refused, busy, flow control): the failover
    may try the next gateway and the user may retry later."""

    code = "gateway_unavailable"
    message_zh, message_en = ERRORS["gateway_unavailable"]


class GatewayPermanentError(GatewayError):
    """The gateway refused this message for a reason another gateway would share (illegal
    number, blacklisted, content refused): reported to the user, never failed over."""

    code = "gateway_refused"
    message_zh, message_en = ERRORS["gateway_refused"]


class GatewayUncertainError(GatewayError):
    """The request was written but no answer came (timeout, dropped link): it MAY have been
    sent. Never retried or failed over, so no one gets the same SMS twice."""

    code = "gateway_uncertain"
    message_zh, message_en = ERRORS["gateway_uncertain"]
