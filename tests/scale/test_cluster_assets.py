"""tests/portal/test_assets.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.test_assets import *  # noqa: F403
