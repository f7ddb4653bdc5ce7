"""The one interface every SMS backend implements, and the values it passes around.

A backend is an async object: ``await backend.send(message) -> SendResult`` or one of the
typed errors (:class:`GatewayTransientError` — definitely not sent, try another gateway;
:class:`GatewayPermanentError` — refused for a reason every gateway shares, tell the user;
:class:`GatewayUncertainError` — may have been sent, never retry). ``await backend.close()``
ends the gateway session politely. Delivery reports arrive through ``on_report``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DeliveryReport",
    "ReportHandler",
    "SendResult",
    "SmsBackend",
    "SmsMessage",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One rendered text to one number (bare 11-digit mainland number for the operators)."""

    phone: str
    text: str
    request_id: str = ""
    # For cloud APIs whose approved template holds the text: template name and its parameters.
    template: str = ""
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """The gateway took the message. ``message_id`` is the first segment's id, which delivery
    reports refer to; ``message_ids`` has every segment's id."""

    gateway: str
    message_id: str
    message_ids: tuple[str, ...] = ()
    segments: int = 1


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A status report from a gateway (stat DELIVRD / UNDELIV / EXPIRED / …, §1.3 §1.4 §1.6)."""

    gateway: str
    message_id: str
    stat: str
    err: str = ""
    phone: str = ""
    # Non-empty (a sms_gateway.delivery_reports.NumberFault value) when the report says the number itself
    # cannot get SMS through this gateway: vacant, ported out, no SMS service.
    number_fault: str = ""

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"


ReportHandler = Callable[[DeliveryReport], None]


class SmsBackend(abc.ABC):
    """Base class of every backend. ``name`` is the configured gateway name (unique)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._report_handler: ReportHandler | None = None

    def on_report(self, handler: ReportHandler | None) -> None:
        """Register the callable that receives delivery reports (called in the event loop)."""
        self._report_handler = handler

    def _emit_report(self, report: DeliveryReport) -> None:
        if self._report_handler is None:
            return
        try:
            self._report_handler(report)
        except Exception:  # a bad handler must not kill the gateway session
            log.exception("%s: delivery report handler failed", self.name)

    async def start(self) -> None:  # noqa: B027 - optional hook: open long connections early
        """Open long-lived connections now instead of at the first send (optional)."""

    @abc.abstractmethod
    async def send(self, message: SmsMessage) -> SendResult:
        """Hand one message to the gateway; raise a typed GatewayError when it is not taken."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Log out / close connections; idempotent."""
