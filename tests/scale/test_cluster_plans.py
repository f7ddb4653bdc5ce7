"""tests/portal/test_plans.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.test_plans import *  # noqa: F403
