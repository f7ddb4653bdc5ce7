"""Demo-mode helpers for ``citywifi up --demo`` and the login benchmark: a demo plan and venue,
and the redirect URL the demo simulator gives its first phone."""

from __future__ import annotations

import ipaddress
from typing import Any

from portal.aaa.plans import Plan, PlanStore
from portal.runtime.settings import Settings
from portal.runtime.texts import DEMO_PLAN_TITLE, DEMO_VENUE_NAME
from portal.venues.venue_store import Venue, VenueStore

__all__ = ["demo_phone_url", "local_portal_url", "local_web_url", "seed_demo_venue"]


def seed_demo_venue(redis: Any, ac_name: str) -> None:
    """``citywifi up --demo``: a demo plan and venue for the simulated AC (kept if they exist)."""
    plans = PlanStore(redis)
    if plans.get_or_none("demo") is None:
        plans.put(Plan(name="demo", title_zh=DEMO_PLAN_TITLE[0], title_en=DEMO_PLAN_TITLE[1], up_kbps=2000,
                       down_kbps=8000, daily_time=4 * 3600, max_sessions=3, mac_binding_days=7))
    if "*" not in plans.rules():
        plans.assign("default", "", "demo")
    venues = VenueStore(redis)
    if venues.get_or_none("demo") is None:
        venues.put(Venue(id="demo", name_zh=DEMO_VENUE_NAME[0], name_en=DEMO_VENUE_NAME[1], acs=(ac_name,),
                         default=True, default_plan="demo", redirect_url="https://www.example.com/",
                         redirect_hosts=("www.example.com",), silent_mac_login=True))


def local_web_url(settings: Settings) -> str:
    """``http://HOST:PORT`` of the web service as seen from this box: ``web.host`` itself, or
    loopback when it listens on every address."""
    host = settings.web.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web.port}"


def local_portal_url(settings: Settings) -> str:
    """The portal page the simulated AC sends its phones to: ``ac_sim.portal_url``, else this
    box's web service (so a changed ``web.port`` needs no second setting)."""
    return settings.ac_sim.portal_url or f"{local_web_url(settings)}/portal"


def demo_phone_url(settings: Settings) -> str:
    """The redirect URL the demo simulator gives its first phone (what a browser opens)."""
    from ac_adapters.simulator import build_redirect_url

    sim = settings.ac_sim
    net = ipaddress.IPv4Network(getattr(sim, "user_network", "10.10.0.0/16"), strict=False)
    ip = next(net.hosts())
    mac = "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)
    return build_redirect_url(local_portal_url(settings), flavour=sim.flavour, user_ip=str(ip), user_mac=mac,
                              ac_ip=getattr(sim, "nas_ip", "127.0.0.1"), ac_name=sim.nas_identifier,
                              ssid=sim.ssid, ap_mac=sim.ap_mac, first_url="http://www.example.com/")
