"""Readers for sequences users bring on disk, plus the split helpers every loader shares.

Registered datasets (all read local files only; nothing is ever downloaded):

``mnist-test-seq``
    The standard Moving MNIST file ``mnist_test_seq.npy``: (T=20, N=10000, 64, 64) uint8, time axis first.
    Options: ``path`` (required), ``splits`` (train,valid,test fractions of the sequences, default
    "0.8,0.1,0.1"), ``t_in`` (default T // 2 = 10). The file is one set, so the splits are made by a permutation of the
    sequences seeded by ``seed``: use the same seed for the three splits of one experiment.

``npz-thuml``
    The thuml/PredRNN npz format: ``input_raw_data`` (N*T, C, H, W) float in [0, 1] (uint8 accepted),
    ``clips`` int (2, N, 2) = [input/output][sequence] -> (start, length), ``dims`` [[C, H, W]].
    thuml ships one file per split (``moving-mnist-train.npz``, ``-valid.npz``, ``-test.npz``). Option ``path``:
    either that split's file (you name the file that matches the split you load), or a folder, in which case the
    split picks the one ``*.npz`` whose name contains the split's name ("train", "valid" or "val", "test").
    t_in / t_out come from the clip lengths.

``array``
    Any array of sequences in a .npy or .npz file (``key`` chooses the array of an .npz holding several).
    ``layout`` names the axes: "NTHW" (default for 4-D), "NTHWC" (channel last), "NTCHW", or "TNHW"
    (time first); 5-D arrays are guessed when one of the two channel positions holds <= 4 and the other more.
    uint8 is divided by 255; floats must already lie in [0, 1]. Options ``splits`` (default "0.8,0.1,0.1"),
    seeded as above, and ``t_in`` (default T // 2).

For every reader ``size`` (default: all of the split) and ``fraction`` (train only) pick a seeded subset of the
split; subsets are nested (a smaller size or fraction gives a subset of a larger one) and keep the file's order.
Bad files give a one-line ValueError naming the file and what to do.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from transmem.data.base import SPLITS, SequenceData
from transmem.registry import DATASETS

DEFAULT_SPLITS = (0.8, 0.1, 0.1)
MAX_FRACTION = 2.0
_SPLIT_SALT = 0x5E0  # mixed into the seed of the permutation that makes splits of a single file
_SUBSET_SALT = 0x5B5  # mixed into the seed of the permutation that picks a subset of a split


# --------------------------------------------------------------------------------------------------------------
# Shared helpers (used by every loader, generated or read)
# --------------------------------------------------------------------------------------------------------------
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


def _need_path(path: Any, dataset: str, what: str) -> Path:
    if path is None or path == "":
        raise ValueError(f"{dataset}: needs the option path={what}")
    return Path(os.fspath(path)).expanduser()


def int_option(value: Any, name: str, dataset: str, *, low: int = 1) -> int:
    """An integer option >= low; accepts integral floats and digit strings, and echoes the value as given."""
    out = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = int(value)
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        out = int(value)
    if out is None or out < low:
        raise ValueError(f"{dataset}: {name} must be an integer >= {low}, got {value!r}")
    return out


def int_at_least(value: Any, name: str, dataset: str, low: int) -> int:
    """An integer option >= low, as the human motion and radar datasets check theirs.

    Takes integers, integral floats and digit strings like `int_option`; the difference is the error, which echoes
    the value after parsing ('4' and 4.0 read as 4). Kept apart from `int_option` so neither family's messages change.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{dataset}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def seq_len_and_t_in(seq_len: Any, t_in: Any, dataset: str) -> tuple[int, int]:
    """Checked (seq_len, t_in) of a windowed dataset: at least 2 frames, of which 1 .. seq_len - 1 are input."""
    seq_len = int_at_least(seq_len, "seq_len", dataset, 2)
    t_in = int_at_least(t_in, "t_in", dataset, 1)
    if t_in >= seq_len:
        raise ValueError(f"{dataset}: t_in={t_in} must be smaller than seq_len={seq_len}")
    return seq_len, t_in


# --------------------------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------------------------
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, KeyError, RuntimeError)


def _corrupt(path: Path, err: BaseException) -> ValueError:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ValueError(
        f"{path}: cannot be read ({reason}); the file looks truncated or is not a numpy file, save or copy it again"
    )


def _open_npz(path: Path):
    """np.load of an .npz archive, with one-line errors for files that are no (complete) zip archive."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: is not a complete .npz (zip) archive; the file looks truncated or is another format, "
            "save or copy it again"
        )
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise _corrupt(path, err) from None


def load_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """The array of a .npy file (memory-mapped) or one array of an .npz file (`key`, or its only array)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; check the path option")
    if path.suffix.lower() == ".npz" or zipfile.is_zipfile(path):
        with _open_npz(path) as archive:
            keys = list(archive.files)
            if key is None and len(keys) != 1:
                raise ValueError(f"{path}: holds the arrays {', '.join(keys) or '(none)'}; choose one with key=NAME")
            if key is not None and key not in keys:
                raise ValueError(f"{path}: has no array '{key}'; it holds {', '.join(keys) or '(none)'}")
            try:
                return archive[key if key is not None else keys[0]]
            except _READ_ERRORS as err:
                raise _corrupt(path, err) from None
    if key is not None:
        raise ValueError(f"{path}: key={key} applies to .npz files only; drop it for a .npy file")
    with path.open("rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ValueError(
                f"{path}: is not a .npy file (no NUMPY header); save the array with numpy.save, or give an .npz"
            )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except _READ_ERRORS as err:
        raise _corrupt(path, err) from None


def _read_npz_keys(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ValueError(f"{path}: no such file; check the path option")
    with _open_npz(path) as archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path}: lacks {', '.join(missing)} (holds {', '.join(archive.files) or 'nothing'}); "
                "a thuml npz needs input_raw_data, clips and dims; use dataset 'array' for other files"
            )
        try:
            return {k: archive[k] for k in keys}
        except _READ_ERRORS as err:
            raise _corrupt(path, err) from None


def parse_layout(layout: str | None, shape: tuple[int, ...], source: Path) -> str:
    """Validate or guess the axis names of an array of sequences."""
    if layout is None:
        if len(shape) == 4:
            return "NTHW"
        if len(shape) == 5:
            if shape[2] <= 4 < shape[4]:
                return "NTCHW"
            if shape[4] <= 4 < shape[2]:
                return "NTHWC"
            raise ValueError(
                f"{source}: cannot tell where the channels of shape {shape} are; pass layout=NTHWC or layout=NTCHW"
            )
        raise ValueError(
            f"{source}: expected sequences shaped (N, T, H, W), (N, T, H, W, C) or (N, T, C, H, W), got shape {shape}"
        )
    layout = str(layout).upper()
    if sorted(layout) not in (sorted("NTHW"), sorted("NTCHW")):
        raise ValueError(f"{source}: layout must name the axes with N, T, H, W and optionally C, e.g. NTHWC; got {layout}")
    if len(layout) != len(shape):
        raise ValueError(
            f"{source}: layout {layout} has {len(layout)} axes but the array has shape {shape}; "
            "fix the layout option or the file"
        )
    return layout


def to_frames(
    array: np.ndarray,
    layout: str,
    indices: np.ndarray | None,
    source: Path,
    *,
    max_channels: int = 16,
    seq_ids: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """Select sequences `indices` of an array with axes `layout`; return float32 (n, T, C, H, W) in [0, 1].

    The bool says whether the values are exact multiples of 1/255 (uint8 sources). seq_ids: the file's numbers of
    the returned sequences, for error messages (default: indices).
    """
    seq_ids = indices if seq_ids is None else seq_ids
    if array.dtype == np.uint8:
        exact = True
    elif array.dtype.kind == "f":
        exact = False
    else:
        raise ValueError(
            f"{source}: dtype {array.dtype} is not supported; save the frames as uint8 (0-255) or as floats in [0, 1]"
        )
    if "C" not in layout:
        array, layout = array[..., None], layout + "C"
    n_axis = layout.index("N")
    if indices is not None:
        array = np.take(array, indices, axis=n_axis)
    frames = np.transpose(array, [layout.index(a) for a in "NTCHW"])
    n, t, c, h, w = frames.shape
    if c > max_channels:
        raise ValueError(
            f"{source}: {c} channels per frame looks like a wrong layout (shape {array.shape} read as {layout}); "
            "pass the layout option"
        )
    if min(t, h, w) < 1:
        raise ValueError(f"{source}: empty frames or sequences (shape {array.shape}); check the file")
    if exact:
        out = frames.astype(np.float32)
        out /= 255.0
        return out, True
    out = np.ascontiguousarray(frames, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        first = int(np.argwhere(bad.reshape(n, -1).any(axis=1))[0, 0])
        where = f"sequence {int(seq_ids[first]) if seq_ids is not None else first}"
        raise ValueError(
            f"{source}: contains NaN or infinite values (first in {where}); clean them (e.g. np.nan_to_num) "
            "or drop those sequences"
        )
    lo, hi = (float(out.min()), float(out.max())) if out.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{source}: float frames must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]; divide uint8-scaled data by 255 "
            "or rescale"
        )
    return out, False


def _t_in(value: Any, seq_len: int, default: int, dataset: str) -> int:
    t_in = default if value is None else int_option(value, "t_in", dataset)
    if not 1 <= t_in < seq_len:
        raise ValueError(f"{dataset}: t_in must lie in [1, {seq_len - 1}] for sequences of {seq_len} frames, got {t_in}")
    return t_in


def _split_of_one_file(
    name: str,
    split: str,
    array: np.ndarray,
    axes: str,
    file: Path,
    fractions: Sequence[float],
    *,
    size: int | None,
    seed: int,
    fraction: float,
    t_in: Any,
    short_hint: str = "",
    info: dict[str, Any] | None = None,
) -> SequenceData:
    """One split of a file that holds a whole set (mnist-test-seq, array): seeded split, then seeded subset.

    Both readers cut their single array the same way; `short_hint` ends the error for sequences under 2 frames and
    `info` adds to the common info.
    """
    seq_len = array.shape[axes.index("T")]
    if seq_len < 2:
        raise ValueError(f"{file}: sequences of {seq_len} frame(s) cannot be split into input and output{short_hint}")
    steps_in = _t_in(t_in, seq_len, seq_len // 2, name)
    part = split_indices(array.shape[axes.index("N")], split, fractions, seed, source=str(file))
    chosen = choose_subset(part, split, size, fraction, seed, source=str(file))
    frames, exact = to_frames(array, axes, chosen, file)
    meta = {"source": str(file), "indices": chosen, "uint8_exact": exact, **(info or {})}
    return SequenceData(name, split, frames, steps_in, seq_len - steps_in, meta)


# --------------------------------------------------------------------------------------------------------------
# Registered readers
# --------------------------------------------------------------------------------------------------------------
@DATASETS.register("mnist-test-seq", "the standard Moving MNIST file mnist_test_seq.npy (20, N, 64, 64) uint8; path=FILE")
def mnist_test_seq(
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | None = None,
    path: str | None = None,
    splits: Any = None,
    t_in: int | None = None,
) -> SequenceData:
    name = "mnist-test-seq"
    check_common(split, size, seed, fraction, dataset=name)
    file = _need_path(path, name, "mnist_test_seq.npy")
    fractions = parse_splits(splits, dataset=name)
    array = load_array(file)
    if array.ndim != 4:
        raise ValueError(
            f"{file}: expected the Moving MNIST layout (T, N, H, W) e.g. (20, 10000, 64, 64), got shape {array.shape}; "
            "use dataset 'array' with a layout option for other arrays"
        )
    if array.dtype != np.uint8:
        raise ValueError(
            f"{file}: expected uint8 frames as in mnist_test_seq.npy, got {array.dtype}; "
            "use dataset 'array' for float data in [0, 1]"
        )
    return _split_of_one_file(name, split, array, "TNHW", file, fractions, size=size, seed=seed, fraction=fraction,
                              t_in=t_in)


def _thuml_file(path: Path, split: str) -> Path:
    if path.is_dir():
        names = ("valid", "val") if split == "valid" else (split,)
        found = sorted(p for p in path.glob("*.npz") if any(n in p.name.lower() for n in names))
        if len(found) != 1:
            listed = ", ".join(p.name for p in found) or "none"
            raise ValueError(
                f"{path}: expected one *.npz whose name contains '{names[0]}' for split '{split}', found {listed}; "
                "pass path=FILE.npz instead"
            )
        return found[0]
    return path


@DATASETS.register("npz-thuml", "thuml/PredRNN npz (input_raw_data, clips, dims); path=FILE.npz of the split, or a folder")
def npz_thuml(
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | None = None,
    path: str | None = None,
) -> SequenceData:
    name = "npz-thuml"
    check_common(split, size, seed, fraction, dataset=name)
    file = _thuml_file(_need_path(path, name, "FILE.npz (the split's file) or a folder of them"), split)
    parts = _read_npz_keys(file, ("input_raw_data", "clips", "dims"))
    raw, clips, dims = parts["input_raw_data"], parts["clips"], parts["dims"]
    if raw.ndim != 4:
        raise ValueError(f"{file}: input_raw_data must be (N*T, C, H, W), got shape {raw.shape}; fix the file")
    if clips.dtype.kind not in "iu" or clips.ndim != 3 or clips.shape[0] != 2 or clips.shape[2] != 2:
        raise ValueError(
            f"{file}: clips must be integers shaped (2, N, 2) = [input/output][sequence] -> (start, length), "
            f"got {clips.dtype} {clips.shape}; fix the file"
        )
    if np.asarray(dims).reshape(-1).tolist() != list(raw.shape[1:]):
        raise ValueError(
            f"{file}: dims {np.asarray(dims).tolist()} disagree with input_raw_data frames {list(raw.shape[1:])}; "
            "fix dims to [[C, H, W]]"
        )
    starts, lengths = clips[..., 0].astype(np.int64), clips[..., 1].astype(np.int64)
    n_seq = clips.shape[1]
    if n_seq == 0:
        raise ValueError(f"{file}: clips lists no sequences")
    if (lengths[0] != lengths[0, 0]).any() or (lengths[1] != lengths[1, 0]).any() or lengths.min() < 1:
        raise ValueError(f"{file}: input and output clip lengths must be positive and the same for every sequence")
    if starts.min() < 0 or (starts + lengths).max() > len(raw):
        raise ValueError(
            f"{file}: clips point outside input_raw_data ({len(raw)} frames); the file is truncated or inconsistent"
        )
    t_in, t_out = int(lengths[0, 0]), int(lengths[1, 0])
    chosen = choose_subset(np.arange(n_seq), split, size, fraction, seed, source=str(file))
    frame_idx = np.concatenate(
        [starts[0, chosen, None] + np.arange(t_in), starts[1, chosen, None] + np.arange(t_out)], axis=1
    )
    frames, exact = to_frames(raw[frame_idx], "NTCHW", None, file, seq_ids=chosen)
    del parts, raw
    info = {"source": str(file), "indices": chosen, "uint8_exact": exact}
    return SequenceData(name, split, frames, t_in, t_out, info)


@DATASETS.register("array", "any (N,T,H,W[,C]) or (N,T,C,H,W) array in .npy/.npz, uint8 or float in [0,1]; path=FILE")
def array_reader(
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | None = None,
    path: str | None = None,
    key: str | None = None,
    layout: str | None = None,
    splits: Any = None,
    t_in: int | None = None,
) -> SequenceData:
    name = "array"
    check_common(split, size, seed, fraction, dataset=name)
    file = _need_path(path, name, "FILE.npy or FILE.npz")
    fractions = parse_splits(splits, dataset=name)
    array = load_array(file, key)
    axes = parse_layout(layout, array.shape, file)
    return _split_of_one_file(name, split, array, axes, file, fractions, size=size, seed=seed, fraction=fraction,
                              t_in=t_in, short_hint="; check layout", info={"layout": axes})
