"""Entry point for ``python -m comicfaces``."""

import sys

from comicfaces.cli import main

if __name__ == "__main__":
    sys.exit(main())
