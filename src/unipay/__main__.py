"""``python -m unipay`` runs the ``unipay`` command."""

import sys

from unipay.cli import main

if __name__ == "__main__":  # documentation tools import this module; only run when executed
    sys.exit(main())
