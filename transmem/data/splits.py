"""Which sequences a split holds: the seeded split of a file that holds a whole set, and nested seeded subsets.

Every reader picks its sequences with these, so a smaller size or fraction always gives a subset of a larger one
and the file's order is kept.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from transmem.data.base import SPLITS

DEFAULT_SPLITS = (0.8, 0.1, 0.1)
_SPLIT_SALT = 0x5E0  # mixed into the seed of the permutation that makes splits of a single file
_SUBSET_SALT = 0x5B5  # mixed into the seed of the permutation that picks a subset of a split


def resolve_size(split: str, size: int | None, fraction: float, default: int) -> int:
    """Number of sequences to return: (size or the default) times fraction for 'train'."""
    base = default if size is None else int(size)
    if split != "train":
        return base
    return max(1, int(round(base * float(fraction))))


def parse_splits(value: Any, *, dataset: str) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' or a 3-sequence -> (train, valid, test) fractions of a single set."""
    if value is None:
        return DEFAULT_SPLITS
    try:
        parts = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
        parts = []
    if len(parts) != 3 or min(parts) < 0 or sum(parts) > 1.0 + 1e-9 or parts[0] <= 0:
        raise ValueError(
            f"{dataset}: splits must be three fractions train,valid,test with sum <= 1, e.g. splits=0.8,0.1,0.1; "
            f"got {value!r}"
        )
    return parts[0], parts[1], parts[2]


def split_indices(n_total: int, split: str, fractions: Sequence[float], seed: int, *, source: str) -> np.ndarray:
    """Indices of one split of a single set of n_total sequences, by a permutation seeded by `seed`."""
    order = np.random.default_rng([int(seed), _SPLIT_SALT]).permutation(n_total)
    b1 = int(round(n_total * fractions[0]))
    b2 = int(round(n_total * (fractions[0] + fractions[1])))
    b3 = int(round(n_total * (fractions[0] + fractions[1] + fractions[2])))
    part = {"train": order[:b1], "valid": order[b1:b2], "test": order[b2:b3]}[split]
    if len(part) == 0:
        raise ValueError(
            f"{source}: holds {n_total} sequences, which leaves none for split '{split}' with splits "
            f"{','.join(f'{f:g}' for f in fractions)}; give it more sequences or change splits"
        )
    return part


def choose_subset(
    indices: np.ndarray, split: str, size: int | None, fraction: float, seed: int, *, source: str
) -> np.ndarray:
    """Seeded, nested subset of a split's indices (sorted, so the file's order is kept)."""
    n = resolve_size(split, size, fraction, len(indices))
    if n > len(indices):
        asked = f"size={size}" if size is not None else ""
        if split == "train" and float(fraction) != 1.0:
            asked = (asked + " " if asked else "") + f"fraction={fraction}"
        raise ValueError(
            f"{source}: split '{split}' holds {len(indices)} sequences but {n} were asked for ({asked}); "
            "ask for fewer"
        )
    if n == len(indices):
        return np.sort(indices)
    pick = np.random.default_rng([int(seed), _SUBSET_SALT, SPLITS.index(split)]).permutation(len(indices))[:n]
    return np.sort(np.asarray(indices)[pick])
