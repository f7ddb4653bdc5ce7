"""tests/portal/admin/test_accounts.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.admin.test_accounts import *  # noqa: F403
