"""Tests of portal/phone/: the phone journey (no Flask), SMS codes and queue, the AC listener."""
