"""The portal core's error tree. Each error carries a stable ``code`` for logs and the web layer,
which maps codes to user messages (Chinese and English) in one place."""

from __future__ import annotations

__all__ = ["CitywifiError", "NotFound", "ValidationError"]


class CitywifiError(Exception):
    """Base of every error the portal core raises on purpose."""

    code: str = "error"


class NotFound(CitywifiError):
    code = "not_found"


class ValidationError(CitywifiError):
    """Input (from a console, the API or the TOML seed) is not acceptable; message says why."""

    code = "invalid"
