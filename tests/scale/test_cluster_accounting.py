"""tests/radius/test_accounting.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.radius.test_accounting import *  # noqa: F403

# Starts its own single-node server (AOF crash test): nothing to re-check on a cluster.
globals().pop("test_accepted_records_survive_a_redis_crash", None)
