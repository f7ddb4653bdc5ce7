"""Phone-facing pages: the login journey, captive-portal detection, WISPr, venue assets,
gateway landings."""
