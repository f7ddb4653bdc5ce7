"""Authorisation and accounting: plans, grants, the decision, usage, sessions, credentials,
blocklist, the AC registry, device slots — the only portal area (with ``portal.state``)
the RADIUS server imports."""
