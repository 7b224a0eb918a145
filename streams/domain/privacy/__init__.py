"""The PII guard: no personal data outside hashed user_data (see `guard`)."""
