"""tests/portal/phone/test_listener_handler.py re-run on a three-master Redis Cluster
(tests/scale/conftest.py)."""

from tests.portal.phone.test_listener_handler import *  # noqa: F403
