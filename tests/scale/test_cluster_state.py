"""tests/portal/state/test_state.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.state.test_state import *  # noqa: F403

# These start their own single-node servers or need no Redis: nothing to re-check on a cluster.
globals().pop("test_embedded_redis_on_unix_socket_persists_across_restart", None)
globals().pop("test_embedded_redis_kill_keeps_fsynced_writes", None)
globals().pop("test_connect_to_dead_redis_raises_state_unavailable", None)
globals().pop("test_bad_url_names_the_key", None)
globals().pop("test_bad_sentinel_entry_names_the_key", None)
globals().pop("test_record_validation", None)
