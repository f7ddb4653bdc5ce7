"""tests/portal/aaa/test_sessions.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.aaa.test_sessions import *  # noqa: F403
