"""How a dataset module declares a dataset: it writes only its own options; the four that every dataset takes
(size, seed, fraction, cache_dir) are added, checked and handed over here, so no module repeats them.

    @dataset("radar", "radar echo sequences ...")
    def radar(split: str, common: Common, *, root=None, mapping="hko7", ...) -> SequenceData:
        n = resolve_size(split, common.size, common.fraction, default)

registers a factory with the contract's signature (see transmem.data)::

    factory(split, *, size=None, seed=0, fraction=1.0, cache_dir=None, root=None, mapping="hko7", ...)

which checks the common options (`check_common`) and calls ``radar(split, Common(...), root=..., ...)``. A family of
datasets built by one function passes it bound to its member (``functools.partial(build, member)``); ``defaults``
changes the default of an option for one dataset and ``drop`` hides an option a dataset does not take.
"""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass, fields
from typing import Any, Callable, Sequence

import numpy as np

from transmem.data.base import SPLITS, SequenceData
from transmem.registry import DATASETS

MAX_FRACTION = 2.0


@dataclass(frozen=True)
class Common:
    """The options every dataset takes (their meaning: transmem.data); checked before a dataset sees them."""

    size: int | None = None
    seed: int = 0
    fraction: float = 1.0
    cache_dir: str | os.PathLike | None = None


COMMON_OPTIONS = tuple(f.name for f in fields(Common))


def check_common(split: str, size: Any, seed: Any, fraction: Any, *, dataset: str = "dataset") -> None:
    """Validate the options every dataset factory accepts; one-line ValueErrors."""
    if split not in SPLITS:
        raise ValueError(f"{dataset}: split must be one of {', '.join(SPLITS)}, got '{split}'")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"{dataset}: size must be a positive integer (number of sequences) or None, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{dataset}: seed must be a non-negative integer, got {seed!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)):
        raise ValueError(f"{dataset}: fraction must be a number in (0, {MAX_FRACTION}], got {fraction!r}")
    if not 0.0 < float(fraction) <= MAX_FRACTION:
        raise ValueError(
            f"{dataset}: fraction must lie in (0, {MAX_FRACTION}] (the paper uses 0.25 to 2.0), got {fraction}"
        )
    if float(fraction) != 1.0 and split != "train":
        raise ValueError(f"{dataset}: fraction applies to the 'train' split only; drop it for split '{split}'")


def dataset(
    name: str, description: str, *, defaults: dict[str, Any] | None = None, drop: Sequence[str] = ()
) -> Callable[[Callable[..., SequenceData]], Callable[..., SequenceData]]:
    """Register `build(split, common, **own options)` in DATASETS as `name`; returns `build` unchanged."""

    def register(build: Callable[..., SequenceData]) -> Callable[..., SequenceData]:
        DATASETS.register(name, description)(factory(name, build, defaults=defaults, drop=drop))
        return build

    return register


def factory(
    name: str, build: Callable[..., SequenceData], *, defaults: dict[str, Any] | None = None, drop: Sequence[str] = ()
) -> Callable[..., SequenceData]:
    """The contract's factory for `build`: its signature lists the common options, then build's own ones."""
    defaults = dict(defaults or {})
    own = list(inspect.signature(build).parameters.values())[2:]  # after (split, common)
    unknown = sorted((set(defaults) | set(drop)) - {p.name for p in own})
    if unknown:
        raise TypeError(f"dataset '{name}': {build!r} has no option {', '.join(unknown)}")
    own = [p.replace(default=defaults.get(p.name, p.default)) for p in own if p.name not in drop]
    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = inspect.Signature(
        [inspect.Parameter("split", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
        + [inspect.Parameter(f.name, keyword, default=f.default, annotation=f.type) for f in fields(Common)]
        + own,
        return_annotation=SequenceData,
    )

    def made(split: str, **options: Any) -> SequenceData:
        signature.bind(split, **options)  # TypeError for an option this dataset does not take, as a plain function
        common = Common(**{k: options.pop(k) for k in COMMON_OPTIONS if k in options})
        check_common(split, common.size, common.seed, common.fraction, dataset=name)
        return build(split, common, **{**defaults, **options})

    made.__signature__ = signature
    made.__name__ = made.__qualname__ = name.replace("-", "_")
    made.__doc__ = (build.func if isinstance(build, functools.partial) else build).__doc__
    return made
