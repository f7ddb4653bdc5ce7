"""tests/radius/test_credentials.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.radius.test_credentials import *  # noqa: F403

# That one opens single-node clients from ``redis_url``; its cluster variant is in
# tests/scale/test_cluster_safety.py.
globals().pop("test_concurrent_consumption_has_one_winner", None)
