"""tests/portal/phone/test_sms_queue.py re-run on a three-master Redis Cluster (tests/scale/conftest.py)."""

from tests.portal.phone.test_sms_queue import *  # noqa: F403
