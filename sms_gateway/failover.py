"""Several backends in priority order: transient failures fail over, the rest do not.

* :class:`GatewayTransientError` (not sent: down, login refused, busy, flow control) → try the
  next backend by priority (lower number first).
* :class:`GatewayPermanentError` (illegal number, …) → raised at once: another gateway would
  refuse it too, and the user must see the reason.
* :class:`GatewayUncertainError` (may have been sent) → raised at once: failing over could
  deliver the same SMS twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sms_gateway.backend import ReportHandler, SendResult, SmsBackend, SmsMessage
from sms_gateway.errors import GatewayTransientError

__all__ = ["FailoverBackend"]

log = logging.getLogger(__name__)


class FailoverBackend(SmsBackend):
    def __init__(self, backends: Sequence[tuple[int, SmsBackend]], name: str = "failover") -> None:
        super().__init__(name)
        if not backends:
            raise ValueError("at least one SMS backend is needed")
        # Stable sort: equal priorities keep their configured order.
        self.backends = [b for _, b in sorted(backends, key=lambda pb: pb[0])]

    def on_report(self, handler: ReportHandler | None) -> None:
        super().on_report(handler)
        for b in self.backends:
            b.on_report(handler)

    async def start(self) -> None:
        for b in self.backends:
            await b.start()

    async def send(self, message: SmsMessage) -> SendResult:
        last: GatewayTransientError | None = None
        for backend in self.backends:
            try:
                return await backend.send(message)
            except GatewayTransientError as exc:
                log.warning("%s failed transiently (%s), trying the next gateway", backend.name, exc.code)
                last = exc
        assert last is not None
        raise GatewayTransientError(f"all gateways failed; last: {last}", code=last.code) from last

    async def close(self) -> None:
        for b in self.backends:
            try:
                await b.close()
            except Exception:  # closing one must not stop closing the others
                log.exception("closing %s failed", b.name)
