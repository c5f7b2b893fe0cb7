"""Datasets: every module here registers its datasets in transmem.registry.DATASETS.

The dataset contract
--------------------
A dataset is a factory registered with ``@DATASETS.register(name, description)``::

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

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from transmem.data.base import SPLITS, SequenceData, check_sequences
from transmem.registry import DATASETS

# --- dataset modules: importing them registers their datasets. Add new dataset modules here. ---------------------
from transmem.data import moving_mnist as _moving_mnist  # noqa: E402,F401  mnist1, mnist2, mnist3
from transmem.data import readers as _readers  # noqa: E402,F401  mnist-test-seq, npz-thuml, array
from transmem.data import human_motion as _human_motion  # noqa: E402,F401  kth, weizmann, h36m, *-synth
from transmem.data import radar as _radar  # noqa: E402,F401  radar, radar-*-synth
# ----------------------------------------------------------------------------------------------------------------

from transmem.data.readers import check_common  # noqa: E402

__all__ = ["SPLITS", "SequenceData", "check_sequences", "load_dataset", "cache_path", "dataset_options"]

CACHE_VERSION = 1
COMMON_OPTIONS = ("size", "seed", "fraction", "cache_dir")


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
    cached = _read_cache(path, name, split)
    if cached is not None:
        return cached
    data = factory(split, size=size, seed=seed, fraction=fraction, cache_dir=cache_dir, **options)
    _write_cache(path, data)
    return data


def cache_path(
    name: str,
    split: str,
    *,
    cache_dir: str | os.PathLike,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    **options: Any,
) -> Path:
    """Where `load_dataset` caches these arguments (the .npy; its .json lies beside it)."""
    described = {
        "version": CACHE_VERSION,
        "name": name,
        "split": split,
        "size": size,
        "seed": int(seed),
        "fraction": float(fraction),
        "options": {k: _describe(v) for k, v in sorted(options.items())},
    }
    key = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / f"{name}_{split}_{key}.npy"


def _describe(value: Any) -> Any:
    """An option's value for the cache key; paths that exist also contribute their size and modification time."""
    if isinstance(value, (str, os.PathLike)) and str(value) and os.path.exists(value):
        path = Path(value).expanduser().resolve()
        stamps = [(path.name, *_stamp(path))]
        if path.is_dir():
            stamps += [(p.name, *_stamp(p)) for p in sorted(path.iterdir()) if p.is_file()]
        return {"path": str(path), "stamps": stamps}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    return value


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__ndarray__", "dtype"}:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _write_cache(path: Path, data: SequenceData) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    exact = bool(data.info.get("uint8_exact"))
    dtype = np.dtype(np.uint8 if exact else np.float32)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    step = 256
    buffer = np.empty((min(step, len(data.frames)),) + data.frames.shape[1:], dtype=np.float32)
    with tmp.open("wb") as f:  # streamed in chunks: no second full-size copy in memory
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": data.frames.shape}
        np.lib.format.write_array_header_1_0(f, header)
        for lo in range(0, len(data.frames), step):
            chunk = data.frames[lo : lo + step]
            if exact:  # k / 255 back to k: values are >= 0, so +0.5 and truncation rounds
                part = buffer[: len(chunk)]
                np.multiply(chunk, np.float32(255.0), out=part)
                part += np.float32(0.5)
                f.write(part.astype(np.uint8).tobytes())
            else:
                f.write(np.ascontiguousarray(chunk, dtype=np.float32).tobytes())
    os.replace(tmp, path)
    meta = {"t_in": data.t_in, "t_out": data.t_out, "info": _to_json(data.info), "version": CACHE_VERSION}
    tmp_meta = path.with_name(path.name + f".tmp{os.getpid()}.json")
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, path.with_suffix(".json"))


def _read_cache(path: Path, name: str, split: str) -> SequenceData | None:
    meta_path = path.with_suffix(".json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        stored = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # unreadable cache entry: rebuild and overwrite it
    if stored.dtype == np.uint8:
        frames = stored.astype(np.float32)
        del stored
        frames /= 255.0
    else:
        frames = np.asarray(stored, dtype=np.float32)
    return SequenceData(name, split, frames, int(meta["t_in"]), int(meta["t_out"]), _from_json(meta["info"]))
