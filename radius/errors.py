"""The radius package's error tree. ``code`` doubles as the metrics counter name of a drop."""

from __future__ import annotations

from portal.errors import CitywifiError

__all__ = [
    "BadAuthenticator",
    "BadReplyAuthenticator",
    "MalformedPacket",
    "MismatchedReply",
    "MissingMessageAuthenticator",
    "OversizedPacket",
    "RadiusError",
    "UnknownAttribute",
]


class RadiusError(CitywifiError):
    """Base of every error the radius package raises on purpose."""

    code = "radius_error"


class InProgress(RadiusError):
    """Another copy of this request is being applied right now: this copy is not answered (the
    client retransmits it and is answered then, RFC 5080 §2.2.2)."""

    code = "duplicate_in_progress"


class MalformedPacket(RadiusError):
    """Header or attribute lengths do not add up (RFC 2865 §3, §5): silently discarded."""

    code = "malformed"


class OversizedPacket(MalformedPacket):
    """Longer than the 4096 octets RFC 2865 §3 allows."""

    code = "oversized"


class MismatchedReply(MalformedPacket):
    """A Disconnect/CoA reply whose Identifier or code answers no request we have out."""

    code = "dm_reply_mismatch"


class BadReplyAuthenticator(MalformedPacket):
    """A Disconnect/CoA reply whose Response Authenticator or Message-Authenticator does not
    verify (wrong secret, or forged)."""

    code = "dm_reply_bad_authenticator"


class UnknownAttribute(MalformedPacket):
    """A standard attribute our dictionary does not define (strict mode, see settings)."""

    code = "unknown_attribute"


class BadAuthenticator(RadiusError):
    """Request Authenticator (accounting) or Message-Authenticator does not verify."""

    code = "bad_authenticator"


class MissingMessageAuthenticator(RadiusError):
    """Access-Request without Message-Authenticator from an AC that must send one (BlastRADIUS)."""

    code = "missing_message_authenticator"
