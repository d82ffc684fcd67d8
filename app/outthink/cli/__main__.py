"""``python -m outthink.cli ...``: the same as ``outthink ...``."""

from __future__ import annotations

import sys

from outthink.cli import main

sys.exit(main())
