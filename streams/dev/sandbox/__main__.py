"""`python -m streams.dev.sandbox`: run the sandbox in the foreground."""

import sys

from streams.dev.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
