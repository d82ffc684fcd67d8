"""``python -m outthink.gui`` starts the desktop app."""

from __future__ import annotations

import sys

from outthink.gui.app import main

sys.exit(main())
