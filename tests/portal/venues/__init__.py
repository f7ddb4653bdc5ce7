"""Tests of portal/venues/: venues, pages, assets, campaigns (pagekit.py: page sources)."""
