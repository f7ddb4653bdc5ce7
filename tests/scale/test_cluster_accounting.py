"""tests/radius/test_accounting.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.radius.test_accounting import *  # noqa: F403
