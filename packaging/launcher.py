"""Entry point of the frozen app: the same ``main`` as the ``outthink`` console script.

With no arguments it starts the desktop app; ``--version``, ``--self-check`` and the
subcommands work as from a terminal.
"""

from __future__ import annotations

import sys

from outthink.cli import main

if __name__ == "__main__":
    sys.exit(main())
