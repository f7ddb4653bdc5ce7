"""Tests of portal/web/venue/: the venue console and its API counterpart."""
