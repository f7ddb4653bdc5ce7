"""tests/radius/test_stop_durability.py's injected-failure case on a three-master Redis Cluster
(tests/scale/conftest.py); the others start a single-node server of their own."""

from tests.radius.test_stop_durability import (  # noqa: F401
    test_records_lost_with_the_connection_are_written_by_the_retransmission,
)
