"""Where cnnjax keeps files it can always rebuild (the oneDNN extension, compiled XLA programs):
``$CNNJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/cnnjax``, else ``~/.cache/cnnjax``."""

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("CNNJAX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnnjax"
    )
    return Path(root)
