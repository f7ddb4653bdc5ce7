"""tests/portal/test_assets.py re-run on a three-master Redis Cluster (tests/scale/conftest.py):
asset writes (MULTI: bytes + metadata) stay in the venue's slot."""

from tests.portal.test_assets import *  # noqa: F403
