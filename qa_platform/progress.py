"""Progress bars (tqdm) that suit a terminal and a log file alike."""
import sys

from tqdm import tqdm

# Seconds between two refreshes of a bar whose stream is not a terminal (a log file, a pipe):
# a line every half minute there, not an update per item.
LOG_REFRESH_SECONDS = 30.0


def progress_bar(iterable=None, **tqdm_kwargs) -> tqdm:
    """``tqdm(iterable, **tqdm_kwargs)``, refreshed at most every ``LOG_REFRESH_SECONDS`` when its stream
    (``file``, default stderr) is not a terminal; unchanged on a terminal. Given ``mininterval`` or
    ``maxinterval`` win."""
    stream = tqdm_kwargs.get("file") or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        # maxinterval too: tqdm's monitor thread would otherwise force a refresh every 10 s.
        tqdm_kwargs = {"mininterval": LOG_REFRESH_SECONDS, "maxinterval": LOG_REFRESH_SECONDS, **tqdm_kwargs}
    return tqdm(iterable, **tqdm_kwargs)
