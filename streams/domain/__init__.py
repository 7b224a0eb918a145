"""The pure core: raw event in, the exact event Meta receives (or a reasoned rejection) out.

Nothing here does I/O, reads the environment or the clock, or logs values: callers pass
`now` and settings in. An import-linter contract in pyproject.toml enforces it.
"""
