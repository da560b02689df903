"""Run the command line: `python -m conversa`."""

import sys

from ._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
