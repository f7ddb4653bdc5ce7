"""tests/portal/test_campaigns.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.test_campaigns import *  # noqa: F403
