"""Tests of portal/web/noc/: the NOC console (nockit.py, jobkit.py: shared helpers)."""
