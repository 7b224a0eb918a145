"""HTTP adapter for Meta's Graph API (the /events edge)."""
