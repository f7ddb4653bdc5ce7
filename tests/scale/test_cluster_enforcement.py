"""tests/radius/test_enforcement.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.radius.test_enforcement import *  # noqa: F403
