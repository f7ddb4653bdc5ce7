"""tests/portal/legal/test_archive.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.legal.test_archive import *  # noqa: F403

# Runs the CLI against the single-node ``redis_url``: nothing to re-check on a cluster.
globals().pop("test_sigkilled_cli_run_then_rerun_loses_nothing", None)
