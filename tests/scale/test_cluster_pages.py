"""tests/portal/test_pages.py re-run on a three-master Redis Cluster (tests/scale/conftest.py):
a publish (Lua: version counter, history, pointer) stays in the venue's slot."""

from tests.portal.test_pages import *  # noqa: F403
