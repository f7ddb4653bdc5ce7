"""Gateways that are not carrier-Portal-protocol ACs: one adapter per ``kind``.

An AC record's ``kind`` (``portal.aaa.acs.AcRecord.kind``) chooses the adapter; ``"portal"`` (the
carrier Portal protocol, ``ac_adapters.client``) has none here. :func:`adapter_for` is the one
lookup the portal uses.
"""

from __future__ import annotations

from ac_adapters.gateways.base import (
    GatewayAdapter,
    GatewayLimits,
    GatewayRedirect,
    GatewayRedirectError,
    SignedRedirects,
)
from ac_adapters.gateways.chilli import CHILLI
from ac_adapters.gateways.mikrotik import MIKROTIK
from ac_adapters.gateways.omada import OMADA
from ac_adapters.gateways.opennds import OPENNDS
from ac_adapters.gateways.unifi import UNIFI

__all__ = ["ADAPTERS", "GatewayAdapter", "GatewayLimits", "GatewayRedirect", "GatewayRedirectError",
           "SignedRedirects", "adapter_for"]

ADAPTERS: dict[str, GatewayAdapter] = {OPENNDS.kind: OPENNDS, CHILLI.kind: CHILLI, MIKROTIK.kind: MIKROTIK,
                                       UNIFI.kind: UNIFI, OMADA.kind: OMADA}


def adapter_for(kind: str) -> GatewayAdapter | None:
    """The adapter of a gateway kind; None for ``"portal"`` (and any kind without one)."""
    return ADAPTERS.get(kind)
