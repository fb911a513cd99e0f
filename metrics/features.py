"""Work computed once and shared: deep features of a batch, and the SRC's side across PVSs. Django-free.

Learned metrics (LPIPS, DISTS, face-region LPIPS) compare network features of
the distorted and the reference frames. Two kinds of sharing:

- within a batch, metrics on the same network (``lpips_alex`` and
  ``face_lpips``) share the features of both sides, and metrics built on the
  same computation share it (``shared``: SSIM and MS-SSIM's first scale);
- across PVSs, the reference side depends on the SRC alone: when the runner
  names the SRC frames (``reference_key``), reference-side work is kept in one
  process-wide LRU bounded in bytes (``FEATURE_CACHE``), so the next PVS of that
  SRC on this worker skips it. Deep features per batch (``features``), and per
  clip (``reference_work``): the SRC's decoded frames, its YUV 4:2:0 planes,
  its optical flow (tOF), its luma differences (tdiff). PVS jobs are queued SRC
  by SRC for this (``qa_platform.core.services.pvs_create_and_enqueue``).

The runner sets the cache's budget (``set_budget``) and opens
``batch_features(reference_key)`` around each batch; a kernel asks
``features(extractor, tensor, role)``. Outside such a block nothing is shared
and every call computes.
"""
import contextlib
import contextvars
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import torch

REFERENCE = "reference"
DISTORTED = "distorted"

Features = list[torch.Tensor]


class ReferenceFeatureCache:
    """Reference-side work by key, least recently used dropped first, at most
    ``budget_bytes`` in all (an entry larger than a quarter of the budget is not
    kept). A value is a tensor, a NumPy array, or a list or tuple of them; the
    later PVSs of the SRC get the very same objects, so callers never modify them."""

    def __init__(self, budget_bytes: int = 0):
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self.budget_bytes = budget_bytes
        self.hits = self.misses = 0

    @property
    def budget_bytes(self) -> int:
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, budget: int) -> None:
        self._budget = budget
        while self._entries and self.size_bytes > budget:
            self._sizes.pop(self._entries.popitem(last=False)[0])

    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]):
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        value = compute()
        size = _nbytes(value)
        if size <= self.budget_bytes // 4:
            self._entries[key], self._sizes[key] = value, size
            self.budget_bytes = self._budget  # drops the least recently used until it fits
        return value

    def clear(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self.hits = self.misses = 0


FEATURE_CACHE = ReferenceFeatureCache()


def reference_work(name: str, reference_key: Hashable | None, compute: Callable[[], object]):
    """``compute()``, kept in ``FEATURE_CACHE`` under ``(name, reference_key)``
    when ``reference_key`` names the SRC's frames (``None``: always computed).

    For work on the SRC's whole clip that does not depend on the PVS;
    ``name`` says what and how (one name, one function), the key which frames.
    The budget is the one last set (``set_budget``).
    """
    if reference_key is None:
        return compute()
    return FEATURE_CACHE.get_or_compute((name, reference_key), compute)


def set_budget(cache_bytes: int) -> None:
    """Bound ``FEATURE_CACHE`` to ``cache_bytes`` (0 keeps nothing), dropping entries that no longer fit."""
    FEATURE_CACHE.budget_bytes = cache_bytes


class _Batch:
    def __init__(self, reference_key: Hashable | None):
        self.reference_key = reference_key
        self.memo: dict[tuple[str, str], object] = {}


_CURRENT: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("faceqa_feature_batch", default=None)


@contextlib.contextmanager
def batch_features(reference_key: Hashable | None):
    """Share features inside the block: one batch of one PVS.

    ``reference_key`` identifies the reference frames of the batch (e.g. the
    SRC's id, file hash and frame range), or ``None`` to keep nothing across
    batches; ``FEATURE_CACHE`` keeps them within the budget last set (``set_budget``).
    """
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


def shared(name: str, inputs: tuple[torch.Tensor, ...], compute: Callable[[], object]):
    """``compute()`` once per batch: work of a library that two metrics of the
    batch need from the same ``inputs`` (the very same tensors; ``name`` says
    what, one name, one function). Outside a batch, always computed."""
    batch = _CURRENT.get()
    if batch is None:
        return compute()
    key = (name, "inputs")
    kept = batch.memo.get(key)
    if kept is None or any(a is not b for a, b in zip(kept[0], inputs)):
        kept = batch.memo[key] = (inputs, compute())
    return kept[1]


def _nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    return sum(_nbytes(part) for part in value)

