"""Tests of portal/reports/: roll-ups and their schedule."""
