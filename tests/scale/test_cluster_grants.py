"""tests/portal/aaa/test_grants.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.aaa.test_grants import *  # noqa: F403
