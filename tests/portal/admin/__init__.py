"""Tests of portal/admin/: console accounts, API tokens, the audit log."""
