"""tests/portal/phone/test_otp.py re-run on a three-master Redis Cluster (tests/scale/conftest.py): the
limit families' reserve scripts go out in one pipeline, each family in its own slot, and the
blocklist's phone and MAC in another — routed per key on a cluster, the scripts as EVAL. The
MAC binding's script + index pipeline runs in tests/scale/test_cluster_credentials.py."""

from tests.portal.phone.test_login_round_trips import (  # noqa: F401
    test_a_refusing_family_leaves_every_other_family_as_it_was,
    test_scripts_forgotten_by_redis_are_loaded_again,
)
from tests.portal.phone.test_otp import *  # noqa: F403
