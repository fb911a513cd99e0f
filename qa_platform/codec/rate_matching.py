"""Matched bitrates: find the rate point at which a codec codes a SRC at a target bitrate. Django-free.

The GFVC literature compares codecs at the same bitrate; a subjective test
then rates, e.g., "x265 at 8 kbit/s" against "landmark-warp at 8 kbit/s". A
codec's ``rate_ladder()`` lists parameter dicts whose rate rises from the
first to the last; :func:`match_rate` bisects it (rate is monotone in the
ladder up to encoder noise) until a probe lands within ``tolerance`` of the
target, probing each rung at most once. A target the ladder cannot reach
(below its lowest rate, above its highest, or between two neighbouring rungs
both outside the tolerance) is reported as unreached with the nearest rates;
it is never replaced by a rate point that misses.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

TOLERANCE = 0.10


@dataclass(frozen=True)
class RateMatch:
    """The outcome of one search.

    target_kbps: kbit/s asked for. params: the rung within tolerance, or None.
    kbps: its bitrate (None when unreached). probes: {rung index: kbit/s}
    measured (cached ones included). reason: why it was not reached ("" when it was).
    """

    target_kbps: float
    params: dict | None
    kbps: float | None
    probes: dict[int, float] = field(default_factory=dict)
    reason: str = ""

    @property
    def reached(self) -> bool:
        return self.params is not None


def moving_params(ladder: list[dict]) -> set[str]:
    """The parameters whose value changes along ``ladder``: what a search chooses."""
    return {key for rung in ladder for key in rung if any(other.get(key) != rung[key] for other in ladder)}


def fixed_params(ladder: list[dict]) -> dict:
    """The parameters every rung of ``ladder`` shares (e.g. a learned codec's checkpoint)."""
    moving = moving_params(ladder)
    return {key: value for key, value in (ladder[0].items() if ladder else ()) if key not in moving}


def within(kbps: float, target_kbps: float, tolerance: float = TOLERANCE) -> bool:
    """Whether ``kbps`` lies within ±tolerance (a fraction) of ``target_kbps``."""
    return abs(kbps - target_kbps) <= tolerance * target_kbps


def match_rate(ladder: list[dict], probe: Callable[[dict], float], target_kbps: float,
               tolerance: float = TOLERANCE, label: Callable[[dict], str] = str) -> RateMatch:
    """Bisect ``ladder`` for a rung whose bitrate is within ``tolerance`` of ``target_kbps``.

    ladder: parameter dicts, rate rising. probe(params) -> kbit/s (the caller
    encodes, or reads its cache). label(params) names a rung in reasons.
    Raises ``ValueError`` for an empty ladder or a target <= 0.
    """
    if not ladder:
        raise ValueError("the codec has no rate ladder to search")
    if target_kbps <= 0:
        raise ValueError(f"a target bitrate must be positive, got {target_kbps}")
    probes: dict[int, float] = {}

    def rate(index: int) -> float:
        if index not in probes:
            probes[index] = probe(ladder[index])
        return probes[index]

    def found(index: int) -> RateMatch:
        return RateMatch(target_kbps, ladder[index], probes[index], probes)

    low, high = 0, len(ladder) - 1
    for end in (low, high):
        if within(rate(end), target_kbps, tolerance):
            return found(end)
    if rate(low) > target_kbps:
        return RateMatch(target_kbps, None, None, probes, f"its lowest rate is {rate(low):.2f} kbit/s "
                         f"({label(ladder[low])}), above {target_kbps:g} kbit/s + {tolerance:.0%}")
    if rate(high) < target_kbps:
        return RateMatch(target_kbps, None, None, probes, f"its highest rate is {rate(high):.2f} kbit/s "
                         f"({label(ladder[high])}), below {target_kbps:g} kbit/s - {tolerance:.0%}")
    while high - low > 1:
        middle = (low + high) // 2
        if within(rate(middle), target_kbps, tolerance):
            return found(middle)
        low, high = (middle, high) if rate(middle) < target_kbps else (low, middle)
    return RateMatch(target_kbps, None, None, probes,
                     f"it jumps from {rate(low):.2f} kbit/s ({label(ladder[low])}) to {rate(high):.2f} kbit/s "
                     f"({label(ladder[high])}), both more than {tolerance:.0%} from {target_kbps:g} kbit/s")
