"""Where the page editor's variable help used to live: re-exports ``portal/venues/page_help_texts.py``.

The help texts are a catalog now (zh + en, read by the venue operator); this name stays importable
for the venue console (``portal.web.venue.venue_console``) until it imports the catalog itself.
"""

from __future__ import annotations

from portal.venues.page_help_texts import VARIABLES, Variable, variables_for

__all__ = ["VARIABLES", "Variable", "variables_for"]
