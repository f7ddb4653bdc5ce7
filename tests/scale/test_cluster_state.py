"""tests/portal/test_state.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.test_state import *  # noqa: F403
