"""tests/portal/legal/test_logexport.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.legal.test_logexport import *  # noqa: F403

# A 200k-record memory-bound test (36 s on a cluster); the smaller export tests cover the layout.
globals().pop("test_export_of_200k_records_streams_in_flat_memory", None)
