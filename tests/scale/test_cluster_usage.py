"""tests/portal/aaa/test_usage.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.aaa.test_usage import *  # noqa: F403
