"""The NOC console (``/noc``): dashboard, sessions, users, plans, ACs, blocklist, jobs,
logs, tokens."""
