"""tests/portal/web/gateway/test_gateway_hook.py re-run on a three-master Redis Cluster
(tests/scale/conftest.py):
an openNDS stop event books its usage once with a marker in the phone's slot, and names its phone
in the gateway's slot, so no step needs a transaction across slots."""

from tests.portal.web.gateway.test_gateway_hook import *  # noqa: F403
