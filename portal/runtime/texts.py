"""What the runtime says to a CLI user, and the words of the demo's seeded records (zh + en).

Audience: the operator running ``citywifi up`` (a service that failed to start) and, in demo
mode, the phone user who meets the demo plan and venue. The other catalogs: ``portal/texts.py``
lists them. The SMS signature's default (``[sms] signature`` in ``settings_sms.py``) stays with
the setting: it is the operator's registered sender name, a configuration value.
"""

from __future__ import annotations

__all__ = ["DEMO_PLAN_TITLE", "DEMO_VENUE_NAME", "FAILED_TO_START"]

# portal.runtime.supervisor: the first line of a service's failure report.
FAILED_TO_START = "{name} 启动失败 / failed to start: {reason}"

# portal.runtime.demo (``citywifi up --demo``): the seeded plan's title and venue's name.
DEMO_PLAN_TITLE = ("免费体验", "Free trial")
DEMO_VENUE_NAME = ("无线城市演示点", "Wireless City demo")
