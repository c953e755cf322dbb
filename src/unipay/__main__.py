"""``python -m unipay`` runs the ``unipay`` command."""

import sys

from unipay.cli import main

sys.exit(main())
