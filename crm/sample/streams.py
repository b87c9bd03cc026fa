"""Random streams split by lead block: a draw's values depend only on (seed, key, block of
the owning lead), so the output does not depend on how leads are grouped into chunks.
"""

from __future__ import annotations

import numpy as np

RNG_BLOCK_LEADS = 1_000


class _Streams:
    """Random draws whose values depend only on (seed, key, block of the owning lead).

    Every draw takes ``owner``: the (chunk-local, non-decreasing) lead index of each value.
    The draw is split at block boundaries and each part comes from that block's generator, so
    grouping blocks into chunks differently gives the same numbers.
    """

    def __init__(self, rngs: list[np.random.Generator], block: int):
        self._rngs = rngs
        self._bounds = np.arange(1, len(rngs), dtype=np.int64) * block

    @classmethod
    def single(cls, seed: int, key: int) -> _Streams:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))
        return cls([rng], block=1)

    @classmethod
    def for_chunk(cls, seed: int, start: int, stop: int) -> _Streams:
        first, last = start // RNG_BLOCK_LEADS, -(-stop // RNG_BLOCK_LEADS)
        rngs = [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, b)))
                for b in range(first, last)]
        return cls(rngs, RNG_BLOCK_LEADS)

    def _draw(self, method: str, owner: np.ndarray, *params: object) -> np.ndarray:
        if len(self._rngs) == 1:
            return getattr(self._rngs[0], method)(*params, size=len(owner))
        if len(owner) > 1 and np.any(owner[1:] < owner[:-1]):
            raise RuntimeError("internal error: random draw owners are not sorted by lead")
        cuts = np.searchsorted(owner, self._bounds, side="left")
        edges = np.concatenate([[0], cuts, [len(owner)]])
        parts = []
        for rng, lo, hi in zip(self._rngs, edges[:-1], edges[1:]):
            args = [p[lo:hi] if isinstance(p, np.ndarray) else p for p in params]
            parts.append(getattr(rng, method)(*args, size=hi - lo))
        return np.concatenate(parts)

    def u(self, owner: np.ndarray) -> np.ndarray:
        return self._draw("random", owner)

    def uniform(self, owner: np.ndarray, low: object, high: object) -> np.ndarray:
        return low + (high - low) * self.u(owner)

    def bern(self, owner: np.ndarray, p: object) -> np.ndarray:
        return self.u(owner) < p

    def normal(self, owner: np.ndarray, loc: object = 0.0, scale: object = 1.0) -> np.ndarray:
        return loc + scale * self._draw("standard_normal", owner)

    def exp(self, owner: np.ndarray, scale: object) -> np.ndarray:
        return scale * self._draw("standard_exponential", owner)

    def poisson(self, owner: np.ndarray, lam: object) -> np.ndarray:
        return self._draw("poisson", owner, lam)

    def gamma(self, owner: np.ndarray, shape: object, scale: object = 1.0) -> np.ndarray:
        return scale * self._draw("standard_gamma", owner, shape)

    def beta(self, owner: np.ndarray, a: object, b: object) -> np.ndarray:
        return self._draw("beta", owner, a, b)

    def cat(self, owner: np.ndarray, probs: tuple[float, ...] | np.ndarray) -> np.ndarray:
        """Categorical draw: index into ``probs`` (normalised)."""
        cum = np.cumsum(probs, dtype=float)
        idx = np.searchsorted(cum / cum[-1], self.u(owner), side="right")
        return np.minimum(idx, len(cum) - 1)

    def pick(self, owner: np.ndarray, n: object) -> np.ndarray:
        """Uniform integer in [0, n) per value (n may vary per value)."""
        return np.minimum(np.floor(self.u(owner) * n), np.maximum(n, 1) - 1).astype(np.int64)
