"""The Outthink desktop app (PySide6). The only package that imports Qt.

Layout: views (``candidates``, ``answer_panel``, ``tree_view``, ``controls``, dialogs) hold
widgets and layout; controllers (``run_controller``, ``models_dialog.ModelsController``) hold
logic and talk to the Qt-free core; ``runstate`` folds the core's event stream into what the
views draw; ``workers`` runs core work off the GUI thread.
"""

from __future__ import annotations
