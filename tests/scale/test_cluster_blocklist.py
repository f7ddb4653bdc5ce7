"""tests/portal/aaa/test_blocklist.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.aaa.test_blocklist import *  # noqa: F403
