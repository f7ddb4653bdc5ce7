"""tests/portal/venues/test_pages.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.venues.test_pages import *  # noqa: F403
