"""tests/radius/test_accounting.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from collections.abc import Iterator
from typing import Any

import pytest

from portal.aaa.plans import Plan, PlanStore
from portal.runtime.settings import QuotaSettings
from radius.accounting import AccountingProcessor
from tests.radius.test_accounting import *  # noqa: F403
from tests.radius.test_accounting import SIGNER


@pytest.fixture
def proc(redis_client: Any) -> Iterator[AccountingProcessor]:
    """redis-py's pipeline only: under Cluster the worker's own RESP pipeline is off (it speaks to
    one node), as the RADIUS server decides at start-up; ``redis_url`` here is not the cluster."""
    PlanStore(redis_client, cache_ttl=0).put(Plan("basic", interim_interval=300))
    yield AccountingProcessor(redis_client, settings=QuotaSettings(plan_cache_ttl=0), grace=60,
                              class_signer=SIGNER)

# Starts its own single-node server (AOF crash test): nothing to re-check on a cluster.
globals().pop("test_accepted_records_survive_a_redis_crash", None)
