"""Which rows each rank trains on at each step, and how many steps a stage has.

The batch order is a pure function of the seed, the step and the rank, so resuming at step k needs no
saved data position and every rank knows its share without communication.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from valuesfirst.train.collate import PackedRow


class BatchPlan:
    """Rows are drawn epoch by epoch, each epoch a fresh seeded permutation. A step's global batch is
    ``grad_accum`` micro-batches per rank; micro-batch m of rank r takes slice ``m * world + r``."""

    def __init__(self, n_rows: int, batch_size: int, grad_accum: int, world: int, rank: int, seed: int):
        if n_rows < 1:
            raise ValueError("no rows to train on")
        self.n, self.b, self.accum, self.world, self.rank, self.seed = (
            n_rows, batch_size, grad_accum, world, rank, seed
        )  # fmt: skip
        self._perms: dict[int, list[int]] = {}

    def _row(self, position: int) -> int:
        epoch, index = divmod(position, self.n)
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms[epoch] = torch.randperm(self.n, generator=gen).tolist()
        return self._perms[epoch][index]

    def micro_batches(self, step: int) -> list[list[int]]:
        """Row indices of this rank's micro-batches at ``step``."""
        start = step * self.b * self.accum * self.world
        return [
            [self._row(start + (m * self.world + self.rank) * self.b + j) for j in range(self.b)]
            for m in range(self.accum)
        ]

    def batches(self, rows: list[PackedRow], first_step: int, seen: list[int]) -> Iterator[list[PackedRow]]:
        """Endless micro-batches from ``first_step`` on; the row indices used are appended to ``seen``."""
        step = first_step
        while True:
            for ids in self.micro_batches(step):
                seen.extend(ids)
                yield [rows[k] for k in ids]
            step += 1
