"""The cache of `load_dataset`: one split's frames as ``<cache_dir>/<name>_<split>_<key>.npy`` plus a ``.json`` with
t_in, t_out and info, keyed by a hash of the name, split and every option (see transmem.data)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from transmem.data.base import SequenceData

CACHE_VERSION = 1


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


def write_cache(path: Path, data: SequenceData) -> None:
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


def read_cache(path: Path, name: str, split: str) -> SequenceData | None:
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
