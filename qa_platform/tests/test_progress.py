"""Progress bars: every update on a terminal, a line every half minute in a log."""
import re
import time
from io import StringIO

from qa_platform.progress import LOG_REFRESH_SECONDS, progress_bar


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream, *, updates: int = 100, seconds: float = 1.0) -> list[str]:
    """The states a bar on ``stream`` printed over ``updates`` updates in about ``seconds`` seconds."""
    with progress_bar(total=updates, file=stream, desc="items") as bar:
        for _ in range(updates):
            time.sleep(seconds / updates)
            bar.update(1)
    return _updates(stream.getvalue())


def _updates(text: str) -> list[str]:
    """The states a bar printed (tqdm starts each with a carriage return)."""
    return [state for state in re.split(r"[\r\n]", text) if state.strip()]


class TestProgressBar:
    def test_a_log_gets_only_the_first_and_last_state_of_a_short_run(self):
        states = _run(StringIO())
        assert len(states) == 2, states
        assert states[0].startswith("items:   0%") and states[-1].startswith("items: 100%")

    def test_a_log_is_refreshed_every_half_minute(self):
        bar = progress_bar(total=10, file=StringIO())
        assert bar.mininterval == bar.maxinterval == LOG_REFRESH_SECONDS == 30
        bar.close()

    def test_a_terminal_shows_the_updates_as_tqdm_does(self):
        assert len(_run(Terminal())) >= 5  # tqdm's mininterval: 0.1 s
