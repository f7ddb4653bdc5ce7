"""What the controller-API gateway clients (UniFi, Omada) share: their error."""

from __future__ import annotations

from ac_adapters.errors import PortalError

__all__ = ["ControllerError"]


class ControllerError(PortalError):
    """The controller refused, or could not be reached (``timed_out``)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
