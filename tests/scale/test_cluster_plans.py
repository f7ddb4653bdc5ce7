"""tests/portal/aaa/test_plans.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.aaa.test_plans import *  # noqa: F403
