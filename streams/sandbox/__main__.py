"""`python -m streams.sandbox`: run the sandbox in the foreground."""

import sys

from streams.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
