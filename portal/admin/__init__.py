"""Who may use the consoles and the API (accounts, API tokens) and what they changed (audit)."""
