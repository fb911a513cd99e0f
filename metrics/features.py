"""Deep features of a batch of frames, computed once and shared. Django-free.

Learned metrics (LPIPS, DISTS, face-region LPIPS) compare network features of
the distorted and the reference frames. Two kinds of sharing:

- within a batch, metrics on the same network (``lpips_alex`` and
  ``face_lpips``) share the features of both sides;
- across PVSs, the reference side depends on the SRC alone: when the runner
  names the SRC frames of a batch (``reference_key``), their features are kept
  in a process-wide LRU bounded in bytes (``FEATURE_CACHE``), so the next PVS
  of that SRC on this worker skips the reference forward pass. PVS jobs are
  queued SRC by SRC for this (``qa_platform.core.services.pvs_create_and_enqueue``).

The runner opens ``batch_features(reference_key, cache_bytes)`` around each
batch; a kernel asks ``features(extractor, tensor, role)``. Outside such a
block nothing is shared and every call computes.
"""
import contextlib
import contextvars
from collections import OrderedDict
from collections.abc import Callable, Hashable

import torch

REFERENCE = "reference"
DISTORTED = "distorted"

Features = list[torch.Tensor]


class ReferenceFeatureCache:
    """Reference-side features by key, least recently used dropped first, at
    most ``budget_bytes`` in all (an entry larger than a quarter of the budget
    is not kept)."""

    def __init__(self, budget_bytes: int = 0):
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, Features] = OrderedDict()
        self.hits = self.misses = 0

    @property
    def size_bytes(self) -> int:
        return sum(_nbytes(entry) for entry in self._entries.values())

    def get_or_compute(self, key: Hashable, compute: Callable[[], Features]) -> Features:
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        value = compute()
        size = _nbytes(value)
        if size <= self.budget_bytes // 4:
            self._entries[key] = value
            while self.size_bytes > self.budget_bytes:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()
        self.hits = self.misses = 0


FEATURE_CACHE = ReferenceFeatureCache()


class _Batch:
    def __init__(self, reference_key: Hashable | None):
        self.reference_key = reference_key
        self.memo: dict[tuple[str, str], Features] = {}


_CURRENT: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("faceqa_feature_batch", default=None)


@contextlib.contextmanager
def batch_features(reference_key: Hashable | None, cache_bytes: int):
    """Share features inside the block: one batch of one PVS.

    ``reference_key`` identifies the reference frames of the batch (e.g. the
    SRC's id, file hash and frame range), or ``None`` to keep nothing across
    batches; ``cache_bytes`` bounds ``FEATURE_CACHE``.
    """
    FEATURE_CACHE.budget_bytes = cache_bytes
    token = _CURRENT.set(_Batch(reference_key))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def features(extractor: str, tensor: torch.Tensor, role: str, compute: Callable[[torch.Tensor], Features]) -> Features:
    """``compute(tensor)``, shared as the module docstring says.

    ``extractor`` names the network and its preprocessing (one name, one
    function); ``role`` is ``REFERENCE`` or ``DISTORTED``.
    """
    batch = _CURRENT.get()
    if batch is None:
        return compute(tensor)
    key = (extractor, role)
    if key not in batch.memo:
        if role == REFERENCE and batch.reference_key is not None:
            cache_key = (extractor, str(tensor.device), batch.reference_key)
            batch.memo[key] = FEATURE_CACHE.get_or_compute(cache_key, lambda: compute(tensor))
        else:
            batch.memo[key] = compute(tensor)
    return batch.memo[key]


def _nbytes(value: Features) -> int:
    return sum(t.element_size() * t.nelement() for t in value)
