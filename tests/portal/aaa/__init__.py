"""Tests of portal/aaa/: plans, grants, the decision, usage, sessions, credentials, blocklist, ACs."""
