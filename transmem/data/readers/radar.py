"""Reader of radar echoes for the precipitation nowcasting benchmark (paper section 4.3): Guangzhou 2014 and 2016
sources -> Beijing target, 10 -> 10 frames at 6-minute steps, CSI at 20 dBZ. This module reads real radar data from
local files; the generated stand-ins (radar-*-synth) are transmem.data.synthetic.radar_fields.

Every radar dataset stores its pixel <-> reflectivity mapping in ``info["dbz"] = {"scale": s, "offset": o}``
(dBZ = s * p + o for a frame value p on [0, 1]); map predictions back with ``transmem.metrics.to_dbz(x, s, o)``.

Reader ``radar`` (local files only; option ``root``)
----------------------------------------------------
Sequences under ``root`` (or under ``root/train``, ``root/valid``, ``root/test`` when those folders exist), sorted by
name; each one is either

* a folder of frames sorted by file name: 8-bit single-channel PNGs, or .npy files holding one (H, W) frame, or
* one ``.npy`` file (T, H, W).

A sequence is cut into windows of ``seq_len`` frames (default 20 = 10 in + 10 out) every ``stride`` frames (default
seq_len); sequences shorter than seq_len are skipped (counted in ``info["skipped_short"]``). Without split folders
the sequences are split chronologically (by name) into contiguous blocks, ``splits`` = "0.8,0.05,0.15" by default:
radar sequences overlap in weather, so a random split would leak storms from training into testing.

``mapping`` says what the stored values are:

* ``hko7`` (default): pixels 0-255, p = pixel / 255, dBZ = 70 p - 10 (HKO-7; 20 dBZ <-> p = 0.4286);
* ``cikm``: pixels 0-255, p = pixel / 255, dBZ = 95 p - 10 (CIKM AnalytiCup 2017);
* ``dbz``: NPY only, raw reflectivity in dBZ; p = (dBZ - lo) / (hi - lo) clipped to [0, 1] with
  ``dbz_range`` = "lo,hi" (default "-10,60", which is exactly the HKO-7 scale, so p means the same as with hko7);
  NaN (no echo) -> 0.

``mask`` (optional): a file (PNG or NPY, (H, W)) applied to every frame, or a folder mirroring the sequences
(``<mask>/<sequence>/<same frame file names>`` or ``<mask>/<sequence>.npy`` shaped (T, H, W) or (H, W)). By default
a nonzero mask value marks a pixel to blank (set to 0, i.e. no echo); ``mask_marks="valid"`` reads nonzero as a
valid pixel instead (as HKO-7's masks). ``frame_size`` resizes frames to a square (area average when shrinking);
default: keep the stored size. Unreadable files, frames of other shapes, values outside the mapping's range
or masks of the wrong shape give a one-line ValueError naming the file.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from transmem.data.base import SPLITS, SequenceData
from transmem.data.factory import Common, dataset
from transmem.data.io.errors import first_line
from transmem.data.options import int_at_least, seq_len_and_t_in
from transmem.data.radar_scale import CIKM, HKO7, SEQ_LEN, STEP_MIN, T_IN
from transmem.data.splits import choose_subset, parse_splits

MAPPINGS = ("hko7", "cikm", "dbz")
READER_SPLITS = (0.8, 0.05, 0.15)
_FRAME_EXT = (".png", ".npy")


def _pair(value: Any, name: str, dataset: str) -> tuple[float, float]:
    try:
        parts = [float(v) for v in (value.split(",") if isinstance(value, str) else value)]
    except (TypeError, ValueError):
        parts = []
    if len(parts) != 2 or not all(math.isfinite(v) for v in parts) or parts[0] >= parts[1]:
        raise ValueError(f"{dataset}: {name} must be two numbers lo,hi with lo < hi, e.g. -10,60; got {value!r}")
    return parts[0], parts[1]


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode not in ("L", "P", "1", "I;16", "I"):
                raise ValueError(f"{path}: a {mode} image; radar frames must be single-channel PNGs (mode L)")
            if mode in ("P", "1"):
                img = img.convert("L")
            return np.asarray(img)
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable image ({first_line(err)}); replace or delete the file") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path}: not a readable image ({first_line(err)}); replace or delete the file") from None


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy file ({first_line(err)}); the file looks truncated, "
                         "save or copy it again") from None


def _read_frame(path: Path) -> np.ndarray:
    arr = _read_png(path) if path.suffix.lower() == ".png" else _read_npy(path)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected one frame shaped (H, W), got shape {arr.shape}")
    return np.asarray(arr)


@dataclass
class _RadarSequence:
    name: str
    path: Path
    frames: list[Path] | None  # frame files, or None for one .npy (T, H, W)

    def length(self) -> int:
        if self.frames is not None:
            return len(self.frames)
        arr = _read_npy(self.path)
        if arr.ndim != 3:
            raise ValueError(f"{self.path}: expected a sequence shaped (T, H, W), got shape {arr.shape}")
        return arr.shape[0]

    def read(self, start: int, count: int) -> tuple[np.ndarray, list[Path]]:
        """Frames start..start+count-1 as (count, H, W) raw values, and the file of each frame."""
        if self.frames is None:
            arr = _read_npy(self.path)
            if arr.ndim != 3:
                raise ValueError(f"{self.path}: expected a sequence shaped (T, H, W), got shape {arr.shape}")
            return np.asarray(arr[start : start + count]), [self.path] * count
        files = self.frames[start : start + count]
        frames = [_read_frame(f) for f in files]
        for f, a in zip(files, frames):
            if a.shape != frames[0].shape:
                raise ValueError(f"{f}: frame of shape {a.shape} in a sequence of {frames[0].shape} frames")
        return np.stack(frames), files


def _natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def find_radar_sequences(folder: Path) -> list[_RadarSequence]:
    """Sequences directly under `folder`: sub-folders of frames and (T, H, W) .npy files, sorted by name."""
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: _natural_key(p.name)):
        if entry.is_dir():
            frames = sorted((p for p in entry.iterdir() if p.is_file() and p.suffix.lower() in _FRAME_EXT),
                            key=lambda p: _natural_key(p.name))
            if frames:
                out.append(_RadarSequence(entry.name, entry, frames))
        elif entry.is_file() and entry.suffix.lower() == ".npy":
            out.append(_RadarSequence(entry.stem, entry, None))
    return out


def _to_unit(raw: np.ndarray, mapping: str, dbz_range: tuple[float, float], source: Path) -> np.ndarray:
    """Stored values -> p on [0, 1] (float32)."""
    if mapping == "dbz":
        if raw.dtype.kind not in "fiu":
            raise ValueError(f"{source}: dtype {raw.dtype} cannot hold dBZ values")
        lo, hi = dbz_range
        dbz = np.nan_to_num(raw.astype(np.float64), nan=lo, neginf=lo, posinf=hi)
        return np.clip((dbz - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    if raw.dtype.kind not in "fiu":
        raise ValueError(f"{source}: dtype {raw.dtype} is no pixel value")
    values = raw.astype(np.float32)
    if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > 255):
        raise ValueError(
            f"{source}: mapping '{mapping}' expects pixel values 0-255, found [{np.nanmin(values):.4g}, "
            f"{np.nanmax(values):.4g}]; use mapping='dbz' for reflectivity values"
        )
    return values / np.float32(255.0)


def _resize(frames: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or frames.shape[-2:] == (size, size):
        return frames
    out = np.empty(frames.shape[:-2] + (size, size), dtype=np.float32)
    for idx in np.ndindex(frames.shape[:-2]):
        img = Image.fromarray(frames[idx].astype(np.float32), "F")
        method = Image.Resampling.BOX if size < max(frames.shape[-2:]) else Image.Resampling.BILINEAR
        out[idx] = np.asarray(img.resize((size, size), method))
    return np.clip(out, 0.0, 1.0)


class _Masks:
    """Masks of a radar folder: one file for every frame, or a folder mirroring the sequences."""

    def __init__(self, path: Path | None, marks: str):
        self.path, self.keep_nonzero = path, marks == "valid"
        self.single = None
        if path is not None and path.is_file():
            self.single = self._load(path)
            if self.single.ndim != 2:
                raise ValueError(f"{path}: a mask file must be one (H, W) frame, got shape {self.single.shape}")

    def _load(self, path: Path) -> np.ndarray:
        arr = _read_png(path) if path.suffix.lower() == ".png" else np.asarray(_read_npy(path))
        return arr

    def blank(self, seq: _RadarSequence, start: int, files: list[Path], shape: tuple[int, ...]) -> np.ndarray | None:
        """Boolean (T, H, W) of the pixels to blank, or None without masks."""
        if self.path is None:
            return None
        if self.single is not None:
            if self.single.shape != shape[1:]:
                raise ValueError(f"{self.path}: mask of shape {self.single.shape} for frames of shape {shape[1:]}")
            mask = np.broadcast_to(self.single, shape)
        else:
            npy = self.path / f"{seq.name}.npy"
            folder = self.path / seq.name
            if npy.is_file():
                source = npy
                arr = np.asarray(_read_npy(npy))
                if arr.ndim == 3:
                    arr = arr[start : start + shape[0]]
                mask = arr
            elif folder.is_dir():
                source = folder
                mask = np.stack([self._load(folder / f.name) if (folder / f.name).is_file()
                                 else self._missing(folder / f.name) for f in files])
            else:
                raise ValueError(f"{self.path}: has no mask for sequence '{seq.name}' ({seq.name}.npy or {seq.name}/)")
            wrong_frames = mask.ndim == 3 and mask.shape[0] != shape[0]
            if mask.ndim not in (2, 3) or mask.shape[-2:] != shape[1:] or wrong_frames:
                raise ValueError(f"{source}: mask of shape {mask.shape} for {shape[0]} frames of shape {shape[1:]}")
            mask = np.broadcast_to(mask, shape)
        nonzero = mask != 0
        return ~nonzero if self.keep_nonzero else nonzero

    @staticmethod
    def _missing(path: Path) -> np.ndarray:
        raise ValueError(f"{path}: mask frame missing; give one mask file per frame file")


@dataset(
    "radar", "radar echo sequences from local PNG/NPY folders with a pixel-to-dBZ mapping (hko7, cikm, dbz); root=DIR"
)
def radar(
    split: str,
    common: Common,
    *,
    root: str | os.PathLike | None = None,
    mapping: str = "hko7",
    dbz_range: str | Sequence[float] = (-10.0, 60.0),
    mask: str | os.PathLike | None = None,
    mask_marks: str = "invalid",
    frame_size: int | None = None,
    seq_len: int = SEQ_LEN,
    t_in: int = T_IN,
    stride: int | None = None,
    splits: str | Sequence[float] | None = None,
) -> SequenceData:
    """Radar windows read from disk; see the module docstring."""
    name = "radar"
    if root is None or root == "":
        raise ValueError(f"{name}: needs the option root=DIR (folders of PNG/NPY frames or (T, H, W) .npy files)")
    folder = Path(os.fspath(root)).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder; root must hold the radar sequences")
    if mapping not in MAPPINGS:
        raise ValueError(f"{name}: mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    lo_hi = _pair(dbz_range, "dbz_range", name)
    if mask_marks not in ("invalid", "valid"):
        raise ValueError(
            f"{name}: mask_marks must be 'invalid' (nonzero = blank) or 'valid' (nonzero = keep), got {mask_marks!r}"
        )
    mask_path = None
    if mask is not None and mask != "":
        mask_path = Path(os.fspath(mask)).expanduser()
        if not mask_path.exists():
            raise ValueError(f"{mask_path}: no such mask file or folder")
    size_px = None if frame_size is None else int_at_least(frame_size, "frame_size", name, 8)
    sl, ti = seq_len_and_t_in(seq_len, t_in, name)
    st = sl if stride is None else int_at_least(stride, "stride", name, 1)

    split_dirs = [folder / s for s in SPLITS if (folder / s).is_dir()]
    if split_dirs:
        if splits is not None:
            raise ValueError(f"{folder}: has train/valid/test folders, so the option splits does not apply; drop it")
        sub = folder / split
        if not sub.is_dir():
            raise ValueError(f"{folder}: has split folders but no '{split}' folder")
        sequences = find_radar_sequences(sub)
        if not sequences:
            raise ValueError(f"{sub}: holds no radar sequence (folders of .png/.npy frames or (T, H, W) .npy files)")
    else:
        every = find_radar_sequences(folder)
        if not every:
            raise ValueError(f"{folder}: holds no radar sequence (folders of .png/.npy frames or (T, H, W) .npy files)")
        fr = parse_splits(splits, dataset=name) if splits is not None else READER_SPLITS
        bounds = np.round(np.cumsum([0.0, *fr]) * len(every)).astype(int)
        k = SPLITS.index(split)
        sequences = every[bounds[k] : bounds[k + 1]]
        if not sequences:
            raise ValueError(
                f"{folder}: its {len(every)} sequences leave none for split '{split}' with splits "
                f"{','.join(f'{v:g}' for v in fr)}; add sequences, change splits or use train/valid/test folders"
            )
    if mapping == "dbz" and any(s.frames is not None and any(f.suffix.lower() == ".png" for f in s.frames)
                                for s in sequences):
        raise ValueError(f"{name}: mapping='dbz' reads raw dBZ from .npy files; PNG frames need mapping hko7 or cikm")

    windows: list[tuple[int, int]] = []
    skipped = 0
    for si, seq in enumerate(sequences):
        n = seq.length()
        if n < sl:
            skipped += 1
        windows += [(si, s) for s in range(0, n - sl + 1, st)]
    if not windows:
        raise ValueError(f"{name}: the sequences of split '{split}' are all shorter than seq_len={sl} frames")
    chosen = choose_subset(
        np.arange(len(windows)), split, common.size, common.fraction, common.seed, source=f"{name} ({folder})"
    )
    masks = _Masks(mask_path, mask_marks)
    out: list[np.ndarray] = []
    shape = None
    for w in chosen:
        si, start = windows[int(w)]
        seq = sequences[si]
        raw, files = seq.read(start, sl)
        p = _to_unit(raw, mapping, lo_hi, seq.path)
        blank = masks.blank(seq, start, files, p.shape)
        if blank is not None:
            p = np.where(blank, np.float32(0.0), p)
        p = _resize(p, size_px)
        if shape is None:
            shape = p.shape
        elif p.shape != shape:
            raise ValueError(f"{seq.path}: frames of shape {p.shape[1:]} differ from the first sequence's "
                             f"{shape[1:]}; pass frame_size to resize them all")
        out.append(p.astype(np.float32))
    frames = np.stack(out)[:, :, None]
    scale_offset = {"hko7": HKO7, "cikm": CIKM}.get(mapping) or {"scale": lo_hi[1] - lo_hi[0], "offset": lo_hi[0]}
    info = {
        "dbz": dict(scale_offset),
        "mapping": mapping,
        "interval_min": STEP_MIN,
        "root": str(folder),
        "sequences": [sequences[windows[int(w)][0]].name for w in chosen],
        "starts": [windows[int(w)][1] for w in chosen],
        "skipped_short": skipped,
        "masked": mask_path is not None,
    }
    return SequenceData(name, split, frames, ti, sl - ti, info)
