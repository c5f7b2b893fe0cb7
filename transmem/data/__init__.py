"""Datasets: every module here registers its datasets in transmem.registry.DATASETS.

Where they live: ``readers/`` reads real formats from local files (one module per format or dataset family),
``synthetic/`` generates the offline stand-ins (one module per generator), ``io/`` reads and writes frames of every
file kind for everyone (arrays, images, GIFs, videos).

The dataset contract
--------------------
A dataset is a factory registered in ``transmem.registry.DATASETS`` (declare it with ``transmem.data.factory.dataset``,
which adds the four common options, so a module writes only its own)::

    factory(split, *, size=None, seed=0, fraction=1.0, cache_dir=None, **options) -> SequenceData

split      'train', 'valid' or 'test'.
size       number of sequences; None = the paper's default (generated data) or all of the split (files).
seed       fixes the split's content (generated data: the random streams; files: the seeded split/subset).
fraction   training-set fraction as in the paper's Fig. 7 (0.25 .. 2.0; any value in (0, 2] is accepted);
           'train' only, any other split with fraction != 1 is an error.
cache_dir  a folder for the factory's own intermediate products (e.g. decoded videos); `load_dataset` itself caches
           the final arrays there (see below).
options    the dataset's own keyword options; declare them as keyword parameters so `load_dataset` can reject
           unknown ones with a one-line error listing the allowed ones.

Use ``load_dataset(name, split, **options)`` rather than calling a factory: it validates the options and, when
``cache_dir`` is given, stores the result as ``<cache_dir>/<name>_<split>_<key>.npy`` (plus a ``.json`` with
t_in, t_out and info) and reuses it. The key hashes the name, split and every option, with the size and modification
time of any option that names an existing file or folder. Frames are cached as uint8 when the factory sets
``info["uint8_exact"] = True`` (its frames are k / 255 exactly, as for generated Moving MNIST), else as float32.
"""
from __future__ import annotations

import inspect
import os
from typing import Any

from transmem.data.base import SPLITS, SequenceData, check_sequences
from transmem.data.cache import cache_path, read_cache, write_cache
from transmem.data.factory import COMMON_OPTIONS, check_common
from transmem.registry import DATASETS

# --- dataset modules: importing them registers their datasets. Add new dataset modules here. ---------------------
from transmem.data.synthetic import flying_digits as _flying_digits  # noqa: E402,F401  mnist1, mnist2, mnist3
from transmem.data.readers import arrays as _arrays  # noqa: E402,F401  mnist-test-seq, npz-thuml, array
from transmem.data.readers import human_motion as _human_motion  # noqa: E402,F401  kth, weizmann, h36m
from transmem.data.synthetic import stick_figures as _stick_figures  # noqa: E402,F401  kth-, weizmann-, h36m-synth
from transmem.data.readers import radar as _radar  # noqa: E402,F401  radar
from transmem.data.synthetic import radar_fields as _radar_fields  # noqa: E402,F401  radar-*-synth
# ----------------------------------------------------------------------------------------------------------------

__all__ = ["SPLITS", "SequenceData", "check_sequences", "load_dataset", "cache_path", "dataset_options"]


def dataset_options(name: str) -> list[str] | None:
    """The option names a dataset accepts (common ones first), or None when its factory takes any **options."""
    factory = DATASETS.get(name)
    params = list(inspect.signature(factory).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    own = [
        p.name
        for p in params[1:]
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.name not in COMMON_OPTIONS
    ]
    return list(COMMON_OPTIONS) + own


def load_dataset(
    name: str,
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | os.PathLike | None = None,
    **options: Any,
) -> SequenceData:
    """Build (or read from the cache) one split of a registered dataset; see the module docstring."""
    factory = DATASETS.get(name)  # KeyError naming the known datasets
    allowed = dataset_options(name)
    if allowed is not None:
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(
                f"dataset '{name}' has no option {', '.join(unknown)}; allowed options: {', '.join(allowed)}"
            )
    check_common(split, size, seed, fraction, dataset=name)
    if cache_dir is None:
        return factory(split, size=size, seed=seed, fraction=fraction, cache_dir=None, **options)
    path = cache_path(name, split, size=size, seed=seed, fraction=fraction, cache_dir=cache_dir, **options)
    cached = read_cache(path, name, split)
    if cached is not None:
        return cached
    data = factory(split, size=size, seed=seed, fraction=fraction, cache_dir=cache_dir, **options)
    write_cache(path, data)
    return data
