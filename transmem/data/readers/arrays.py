"""Sequences stored as arrays: the Moving MNIST file, thuml/PredRNN npz archives and any array of sequences.

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

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from transmem.data.base import SequenceData
from transmem.data.factory import Common, dataset
from transmem.data.io.arrays import READ_ERRORS, corrupt, load_array, open_npz
from transmem.data.options import int_option, path_option
from transmem.data.splits import choose_subset, parse_splits, split_indices


def _read_npz_keys(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ValueError(f"{path}: no such file; check the path option")
    with open_npz(path) as archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path}: lacks {', '.join(missing)} (holds {', '.join(archive.files) or 'nothing'}); "
                "a thuml npz needs input_raw_data, clips and dims; use dataset 'array' for other files"
            )
        try:
            return {k: archive[k] for k in keys}
        except READ_ERRORS as err:
            raise corrupt(path, err) from None


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
    common: Common,
    *,
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
    part = split_indices(array.shape[axes.index("N")], split, fractions, common.seed, source=str(file))
    chosen = choose_subset(part, split, common.size, common.fraction, common.seed, source=str(file))
    frames, exact = to_frames(array, axes, chosen, file)
    meta = {"source": str(file), "indices": chosen, "uint8_exact": exact, **(info or {})}
    return SequenceData(name, split, frames, steps_in, seq_len - steps_in, meta)


@dataset("mnist-test-seq", "the standard Moving MNIST file mnist_test_seq.npy (20, N, 64, 64) uint8; path=FILE")
def mnist_test_seq(split: str, common: Common, *, path: str | None = None, splits: Any = None,
                   t_in: int | None = None) -> SequenceData:
    """mnist_test_seq.npy, split by a seeded permutation of its sequences; see the module docstring."""
    name = "mnist-test-seq"
    file = path_option(path, name, "mnist_test_seq.npy")
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
    return _split_of_one_file(name, split, array, "TNHW", file, fractions, common, t_in=t_in)


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


@dataset("npz-thuml", "thuml/PredRNN npz (input_raw_data, clips, dims); path=FILE.npz of the split, or a folder")
def npz_thuml(split: str, common: Common, *, path: str | None = None) -> SequenceData:
    """One split's thuml npz archive (the file itself, or the one in a folder named after the split)."""
    name = "npz-thuml"
    file = _thuml_file(path_option(path, name, "FILE.npz (the split's file) or a folder of them"), split)
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
    chosen = choose_subset(np.arange(n_seq), split, common.size, common.fraction, common.seed, source=str(file))
    frame_idx = np.concatenate(
        [starts[0, chosen, None] + np.arange(t_in), starts[1, chosen, None] + np.arange(t_out)], axis=1
    )
    frames, exact = to_frames(raw[frame_idx], "NTCHW", None, file, seq_ids=chosen)
    del parts, raw
    info = {"source": str(file), "indices": chosen, "uint8_exact": exact}
    return SequenceData(name, split, frames, t_in, t_out, info)


@dataset("array", "any (N,T,H,W[,C]) or (N,T,C,H,W) array in .npy/.npz, uint8 or float in [0,1]; path=FILE")
def array_reader(split: str, common: Common, *, path: str | None = None, key: str | None = None,
                 layout: str | None = None, splits: Any = None, t_in: int | None = None) -> SequenceData:
    """Any array of sequences, split by a seeded permutation; see the module docstring."""
    name = "array"
    file = path_option(path, name, "FILE.npy or FILE.npz")
    fractions = parse_splits(splits, dataset=name)
    array = load_array(file, key)
    axes = parse_layout(layout, array.shape, file)
    return _split_of_one_file(name, split, array, axes, file, fractions, common, t_in=t_in,
                              short_hint="; check layout", info={"layout": axes})
