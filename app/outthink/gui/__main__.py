"""``python -m outthink.gui`` starts the desktop app."""

from __future__ import annotations

import sys

from outthink.qtdeps import display_ready

if not display_ready():  # before Qt loads: it would abort without naming what is missing
    sys.exit(1)

from outthink.gui.app import main  # only once the display is known to work

sys.exit(main())
