"""Tests of portal/state/: Redis connections and the embedded Redis."""
