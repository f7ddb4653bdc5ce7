"""tests/portal/venues/test_assets.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.venues.test_assets import *  # noqa: F403
