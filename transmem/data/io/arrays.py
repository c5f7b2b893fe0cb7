"""Arrays of frames in .npy / .npz files: loading them with one-line errors, naming or guessing their axes, and
turning them into float32 frames on [0, 1].

`load_array` serves the dataset readers (memory-mapped .npy, or one array of an .npz); `load_frames_array` and the
layout helpers serve `read_frames` / `read_frame_batch` (see transmem.data.io.frames for their rules).
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from transmem.data.io.errors import Final, first_line, reason

ARRAY_SUFFIXES = (".npy", ".npz")
LAYOUTS = ("thw", "thwc", "tchw")
BATCH_LAYOUTS = ("nthw", "nthwc", "ntchw")
FLOAT_SLACK = 1e-5  # floats this far outside [0, 1] are clipped (rounding), further is an error
CHANNEL_SIZES = (1, 3, 4)
READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, KeyError, RuntimeError)


def member(path: Path, names: Sequence[str], key: str | None) -> str:
    """The array of an .npz archive to read: `key`, or the archive's only array."""
    if key is None and len(names) != 1:
        raise ValueError(f"{path}: holds the arrays {', '.join(names) or '(none)'}; choose one with key=NAME")
    if key is not None and key not in names:
        raise ValueError(f"{path}: has no array '{key}'; it holds {', '.join(names) or '(none)'}")
    return key if key is not None else names[0]


# --- for the dataset readers -------------------------------------------------------------------------------------
def corrupt(path: Path, err: BaseException) -> ValueError:
    """The error for a numpy file that numpy cannot read."""
    return ValueError(
        f"{path}: cannot be read ({first_line(err)}); the file looks truncated or is not a numpy file, save or copy "
        "it again"
    )


def open_npz(path: Path):
    """np.load of an .npz archive, with one-line errors for files that are no (complete) zip archive."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: is not a complete .npz (zip) archive; the file looks truncated or is another format, "
            "save or copy it again"
        )
    try:
        return np.load(path, allow_pickle=False)
    except READ_ERRORS as err:
        raise corrupt(path, err) from None


def load_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """The array of a .npy file (memory-mapped) or one array of an .npz file (`key`, or its only array)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; check the path option")
    if path.suffix.lower() == ".npz" or zipfile.is_zipfile(path):
        with open_npz(path) as archive:
            name = member(path, list(archive.files), key)
            try:
                return archive[name]
            except READ_ERRORS as err:
                raise corrupt(path, err) from None
    if key is not None:
        raise ValueError(f"{path}: key={key} applies to .npz files only; drop it for a .npy file")
    with path.open("rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ValueError(
                f"{path}: is not a .npy file (no NUMPY header); save the array with numpy.save, or give an .npz"
            )
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except READ_ERRORS as err:
        raise corrupt(path, err) from None


# --- for read_frames / read_frame_batch -------------------------------------------------------------------------
def load_frames_array(path: Path, key: str | None, *, mmap: bool = False) -> np.ndarray:
    """The array of a .npy file, or of an .npz archive (`key`, or its only array), read into memory; mmap=True maps
    a .npy file instead, so that a caller slicing a few frames reads only those (an .npz is always read whole)."""
    try:
        if path.suffix.lower() == ".npz":
            if not zipfile.is_zipfile(path):
                raise ValueError("not a complete zip archive")
            with np.load(path, allow_pickle=False) as archive:
                try:
                    name = member(path, list(archive.files), key)
                except ValueError as err:
                    raise Final(str(err)) from None
                return archive[name]
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except Final as err:
        raise ValueError(str(err)) from None
    except Exception as err:  # numpy raises ValueError, OSError, EOFError, BadZipFile, ... for broken files
        raise ValueError(
            f"{path}: cannot be read as a numpy array ({reason(err)}); the file is truncated, not a numpy file or "
            "holds Python objects: save the frames again with np.save / np.savez"
        ) from None


def _named_layout(path: Path, shape: tuple[int, ...], layout: str, allowed: Sequence[str]) -> str:
    """A layout the caller named, checked against `allowed` and the array's axes: one rule for sequence and batch."""
    axes = str(layout).lower()
    if axes not in allowed:
        raise ValueError(f"{path}: layout must be one of {', '.join(allowed)}, got {layout!r}")
    if len(axes) != len(shape):
        raise ValueError(f"{path}: layout {axes} needs a {len(axes)}-D array but the array has shape {shape}")
    return axes


def sequence_layout(path: Path, shape: tuple[int, ...], layout: str | None) -> str:
    hint = "for several sequences (N, T, ...) use read_frame_batch"
    if layout is not None:
        return _named_layout(path, shape, layout, LAYOUTS)
    if len(shape) == 3:
        return "thw"
    if len(shape) == 4:
        return _guess_channel_axis(path, shape, shape[1], shape[3], ("tchw", "thwc"), hint)
    fix = hint if len(shape) == 5 else "save the frames in one of these shapes"
    raise ValueError(
        f"{path}: expected one sequence shaped (T, H, W), (T, H, W, C) or (T, C, H, W), got a {len(shape)}-D array "
        f"of shape {shape}; {fix}"
    )


def batch_layout(path: Path, shape: tuple[int, ...], layout: str | None) -> str:
    if layout is not None:
        return _named_layout(path, shape, layout, BATCH_LAYOUTS)
    if len(shape) == 4:
        return "nthw"
    if len(shape) == 5:
        return _guess_channel_axis(path, shape, shape[2], shape[4], ("ntchw", "nthwc"), "")
    raise ValueError(
        f"{path}: expected sequences shaped (N, T, H, W), (N, T, H, W, C) or (N, T, C, H, W), got a {len(shape)}-D "
        f"array of shape {shape}; " + ("use read_frames for one sequence" if len(shape) == 3 else "fix the file")
    )


def _guess_channel_axis(
    path: Path, shape: tuple[int, ...], first: int, last: int, names: tuple[str, str], hint: str
) -> str:
    first_ok, last_ok = first in CHANNEL_SIZES, last in CHANNEL_SIZES
    if first_ok and not last_ok:
        return names[0]
    if last_ok and not first_ok:
        return names[1]
    a, b = len(shape) - 3, len(shape) - 1  # the two candidate channel axes
    why = f"axes {a} and {b} both have" if first_ok else f"neither axis {a} nor axis {b} has"
    extra = f"; {hint}" if hint and not first_ok else ""
    raise ValueError(
        f"{path}: cannot tell the channel axis of shape {shape} ({why} size 1, 3 or 4); "
        f"pass layout='{names[1]}' or layout='{names[0]}'{extra}"
    )


def to_tchw(path: Path, array: np.ndarray, axes: str) -> np.ndarray:
    """Array with axes 'thw' / 'thwc' / 'tchw' (numpy dtype rules above) -> float32 (T, C, H, W) in [0, 1]."""
    if "c" not in axes:
        array, axes = array[..., None], axes + "c"
    array = np.transpose(array, [axes.index(a) for a in "tchw"])
    t, c, h, w = array.shape
    if c not in CHANNEL_SIZES:
        raise ValueError(
            f"{path}: {c} channels per frame; frames need 1 (grey), 3 (RGB) or 4 (RGBA) channels, check layout="
        )
    if min(t, h, w) < 1:
        raise ValueError(f"{path}: holds no frames or empty frames (shape {array.shape}); check the file")
    if c == 4:
        array = array[:, :3]
    return normalise(path, array)


def normalise(path: Path, array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        out = array.astype(np.float32)
        out /= 255.0
        return out
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype.kind != "f":
        raise ValueError(
            f"{path}: dtype {array.dtype} is not supported; save the frames as uint8 (0-255) or as floats in [0, 1]"
        )
    out = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        first = int(np.argwhere(~finite)[0, 0])
        raise ValueError(
            f"{path}: contains NaN or infinite values (first in frame {first}); replace them (e.g. np.nan_to_num) "
            "and save again"
        )
    lo, hi = float(out.min()), float(out.max())
    if lo < -FLOAT_SLACK or hi > 1.0 + FLOAT_SLACK:
        raise ValueError(
            f"{path}: float frames must lie in [0, 1], found values in [{lo:.4g}, {hi:.4g}]; divide 0-255 data by "
            "255 (or save it as uint8), or rescale"
        )
    return np.clip(out, 0.0, 1.0, out=out)
