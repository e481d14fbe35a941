"""Drawing training photos in fixed shares per source folder (``--source-weights``).

Uniform sampling over photos lets the biggest folders set what the model sees: with the shared
photos, people (portraits, street photos, faces) are 58% of every epoch, and the model learned their
palette better than that of everyday scenes. `SourceBalancedSampler` gives each source a share of the
epoch instead. It is written here rather than taken from torch's `WeightedRandomSampler` because that
one draws with replacement (the same photo twice in a batch while others wait), is not split across
torchrun processes, and knows nothing of epochs.

Within one source, photos are drawn as passes over a seeded permutation, so no photo repeats until
its source is used up. A photo drawn for the k-th time in an epoch is yielded as ``index + k * N``
(N: photos in the dataset); `tinct.data.dataset.ColorDataset` reads that photo with its own random
crop, flip, hints and degradation, so repeats are new views, never copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class SourceBalancedSampler(Sampler[int]):
    """An epoch of ``len(sources)`` draws, ``shares[s]`` of them from source ``s``, split over processes.

    Args:
        sources: the source index (0 … len(shares) − 1) of each photo in the dataset.
        shares: non-negative weight per source; normalised to sum to 1. A source with weight 0 is
            never drawn; every source with a positive weight must hold at least one photo.
        num_replicas, rank: the torchrun world size and this process's rank; each process takes
            every ``num_replicas``-th draw of the same global order, so a global batch holds the same
            photos with any number of processes (as with torch's ``DistributedSampler``).
        seed: with the epoch (`set_epoch`), fixes the draws.
    """

    def __init__(
        self, sources: Sequence[int], shares: Sequence[float], num_replicas: int = 1, rank: int = 0, seed: int = 0
    ) -> None:
        if any(w < 0 for w in shares) or not sum(shares) > 0:
            raise ValueError(f"source weights must be ≥ 0 and not all 0, got {list(shares)}")
        self.members = [[i for i, s in enumerate(sources) if s == k] for k in range(len(shares))]
        empty = [k for k, m in enumerate(self.members) if shares[k] > 0 and not m]
        if empty:
            raise ValueError(f"source weight given to source(s) {empty}, which hold no usable photos")
        stray = sorted({s for s in sources if not 0 <= s < len(shares)})
        if stray:
            raise ValueError(f"{len(shares)} source weight(s) given, but photos come from source(s) {stray}")
        self.size = len(sources)
        self.shares = [w / sum(shares) for w in shares]
        self.num_replicas, self.rank, self.seed, self.epoch = num_replicas, rank, seed, 0
        self.per_replica = -(-self.size // num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def counts(self) -> list[int]:
        """Draws per source in one epoch: the shares of ``len(sources)``, rounded by largest remainder."""
        exact = [w * self.size for w in self.shares]
        counts = [int(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda k: counts[k] - exact[k])
        for k in by_remainder[: self.size - sum(counts)]:
            counts[k] += 1
        return counts

    def _global_order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        draws: list[int] = []
        for members, count in zip(self.members, self.counts(), strict=True):
            passes = -(-count // len(members)) if count else 0
            for k in range(passes):
                order = torch.randperm(len(members), generator=generator).tolist()
                take = min(len(members), count - k * len(members))
                draws += [members[i] + k * self.size for i in order[:take]]
        shuffled = torch.randperm(len(draws), generator=generator).tolist()
        draws = [draws[i] for i in shuffled]
        padding = self.per_replica * self.num_replicas - len(draws)
        return draws + draws[:padding]

    def __iter__(self) -> Iterator[int]:
        return iter(self._global_order()[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return self.per_replica
