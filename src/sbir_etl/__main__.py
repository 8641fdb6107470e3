"""Allow ``python -m sbir_etl``."""

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main())
