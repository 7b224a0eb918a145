"""A strict local emulator of the Conversions API /events edge, with fault injection."""
