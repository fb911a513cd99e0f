"""What the studies commands share for output: files written whole or not at all."""
import json
import os
from pathlib import Path

import pandas as pd


def write_atomically(content: pd.DataFrame | dict, path: Path) -> None:
    """Write a table as CSV (no index), or a dict as JSON, to a temporary name in the same folder, then
    rename it to ``path``.

    A reader never sees a half-written file: ``os.replace`` is atomic within a
    file system. The temporary file is removed if writing fails.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(content, pd.DataFrame):
            content.to_csv(temporary, index=False)
        else:
            temporary.write_text(json.dumps(content, indent=1) + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
