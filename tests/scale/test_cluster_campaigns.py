"""tests/portal/venues/test_campaigns.py re-run on a three-master Redis Cluster (tests/scale/conftest.py):
campaign definitions, per-phone caps and per-campaign day counters stay within their slots."""

from tests.portal.venues.test_campaigns import *  # noqa: F403
