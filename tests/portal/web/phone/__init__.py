"""Tests of portal/web/phone/: the phone pages over HTTP, gateway landings."""
