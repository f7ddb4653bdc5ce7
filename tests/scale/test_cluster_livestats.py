"""tests/portal/noc/test_livestats.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.noc.test_livestats import *  # noqa: F403
