"""tests/portal/test_otp.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.test_otp import *  # noqa: F403
