"""Tests of portal/web/gateway/: what gateways post (openNDS events, authmon)."""
