"""tests/portal/aaa/test_session_index.py re-run on a three-master Redis Cluster (tests/scale/conftest.py):
the index writes, removals, searches and the repair work across slots."""

from tests.portal.aaa.test_session_index import *  # noqa: F403
