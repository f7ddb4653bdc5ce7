"""tests/portal/aaa/test_session_close.py re-run on a three-master Redis Cluster (tests/scale/conftest.py):
the marker is in the phone's slot, the logs in their own."""

from tests.portal.aaa.test_session_close import *  # noqa: F403
