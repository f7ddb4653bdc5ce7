"""Gateway-facing endpoints: what openNDS and other gateways post (not phones, not people)."""
