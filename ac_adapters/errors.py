"""The ``ac_adapters`` error tree. Decoders raise only these on untrusted bytes."""

from __future__ import annotations

__all__ = [
    "AttributeOverflow",
    "BadAuthenticator",
    "DecodeError",
    "EncodeError",
    "ExchangeError",
    "LengthMismatch",
    "Oversized",
    "PortalError",
    "RedirectError",
    "Truncated",
    "UnknownType",
    "UnsupportedVersion",
]


class PortalError(Exception):
    """Base of every error this package raises on purpose. ``code`` is stable for logs/metrics."""

    code = "portal_error"


class DecodeError(PortalError):
    """Bytes from the network are not an acceptable portal packet."""

    code = "decode_error"


class Truncated(DecodeError):
    code = "truncated"


class Oversized(DecodeError):
    code = "oversized"


class LengthMismatch(DecodeError):
    """Bytes left over after AttrNum attributes (EAG drops padded datagrams, §1.1)."""

    code = "length_mismatch"


class AttributeOverflow(DecodeError):
    """An attribute's Len runs past the datagram or is below 2."""

    code = "attribute_overflow"


class BadAuthenticator(DecodeError):
    code = "bad_authenticator"


class UnknownType(DecodeError):
    code = "unknown_type"


class UnsupportedVersion(DecodeError):
    code = "unsupported_version"


class EncodeError(PortalError, ValueError):
    """A packet we were asked to build cannot be represented on the wire."""

    code = "encode_error"


class ExchangeError(PortalError):
    """An input is not allowed in the exchange's current state (see ``exchange``)."""

    code = "exchange_error"


class RedirectError(PortalError):
    """An AC redirect query cannot be turned into a login context."""

    code = "redirect_error"
