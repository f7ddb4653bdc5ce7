"""tests/portal/venues/test_venues.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.venues.test_venues import *  # noqa: F403
