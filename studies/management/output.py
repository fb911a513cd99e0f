"""What the studies commands share for output: CSV files written whole or not at all."""
import os
from pathlib import Path

import pandas as pd


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV (no index) to a temporary name in the same folder, then rename it to ``path``.

    A reader never sees a half-written file: ``os.replace`` is atomic within a
    file system. The temporary file is removed if writing fails.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
