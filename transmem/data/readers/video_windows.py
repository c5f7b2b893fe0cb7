"""What the KTH, Weizmann and Human3.6M readers share: a video (a file, or a folder of frame images) of a split,
the windows of seq_len frames cut from the videos, and reading a seeded subset of those windows.

A reader describes its family (`VideoFamily`: how to find the videos under root, what to say when there are none)
and registers `read_video_set` bound to it; the options and their checks are the same for the three.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from transmem.data.base import SequenceData, from_uint8
from transmem.data.factory import Common
from transmem.data.io.images import read_image
from transmem.data.io.video import dataset_video_frames, dataset_video_length
from transmem.data.options import channels_option, int_at_least, name_list, root_folder, seq_len_and_t_in
from transmem.data.splits import choose_subset

FRAME_SIZE, SEQ_LEN, T_IN = 128, 8, 4
NO_CROP = object()  # the default of the readers without a crop option (they keep whole frames)


@dataclass
class Video:
    key: str
    split: str
    path: Path  # the video file, or the folder of its frames
    images: list[Path] | None = None  # frame files, in order, for image sequences

    def length(self) -> int:
        return len(self.images) if self.images is not None else dataset_video_length(self.path)

    def frames(self, wanted: set[int], channels: int, convert=lambda img: img) -> dict[int, np.ndarray]:
        """The frames with the given indices, uint8, each passed through `convert` as it is decoded (so a long
        high-resolution video costs the wanted frames at their converted size, never at the decoded one)."""
        if self.images is not None:
            return {i: convert(read_image(self.images[i], channels)) for i in sorted(wanted)}
        out: dict[int, np.ndarray] = {}
        last = max(wanted)
        for i, frame in enumerate(dataset_video_frames(self.path, channels)):
            if i in wanted:
                out[i] = convert(frame)
            if i >= last:
                break
        missing = sorted(wanted - set(out))
        if missing:
            raise ValueError(
                f"{self.path}: frame {missing[0]} is missing (the file decodes to fewer frames than its header "
                "announces); the file is truncated, copy it again"
            )
        return out


@dataclass(frozen=True)
class VideoFamily:
    """One reader: how it finds its videos under root, and its messages.

    root_holds says what root must hold; none_found is the error when `find` finds nothing ("{actions}" in it names
    the actions asked for); known_actions, when given, are the only actions accepted.
    """

    name: str
    find: Callable[[Path, Sequence[str] | None], list[Video]]
    root_holds: str
    none_found: str
    known_actions: Sequence[str] | None = None


@dataclass(frozen=True)
class Windowing:
    """The checked options that say which frames a window holds and how they are stored."""

    frame_size: int
    channels: int
    seq_len: int
    t_in: int
    stride: int  # frames between the starts of consecutive windows of a video
    frame_step: int  # every k-th frame
    crop: float = 1.0  # kept fraction of each side of a frame


def crop_centre(img: np.ndarray, crop: float) -> np.ndarray:
    """The centre `crop` fraction of an image's height and width."""
    if crop >= 1.0:
        return img
    h, w = img.shape[:2]
    ch, cw = max(1, int(round(h * crop))), max(1, int(round(w * crop)))
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top : top + ch, left : left + cw]


def resize_frame(img: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W[, 3]) -> (size, size[, 3]) with Pillow's bilinear filter (area-filtered when shrinking)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))


def read_windows(dataset: str, videos: list[Video], split: str, common: Common, win: Windowing,
                 info: dict[str, Any] | None = None) -> SequenceData:
    """Cut the videos of one split into windows of seq_len frames, pick a seeded subset, decode only what is needed."""
    videos = [v for v in videos if v.split == split]
    if not videos:
        raise ValueError(f"{dataset}: found no video of split '{split}' under the root folder; check root and actions")
    span = (win.seq_len - 1) * win.frame_step + 1
    windows: list[tuple[int, int]] = []
    for vi, video in enumerate(videos):
        windows += [(vi, s) for s in range(0, video.length() - span + 1, win.stride)]
    if not windows:
        raise ValueError(f"{dataset}: the videos of split '{split}' are all shorter than {span} frames")
    chosen = choose_subset(np.arange(len(windows)), split, common.size, common.fraction, common.seed, source=dataset)
    out = np.empty((len(chosen), win.seq_len, win.frame_size, win.frame_size, win.channels), dtype=np.uint8)
    by_video: dict[int, list[tuple[int, int]]] = {}
    for row, w in enumerate(chosen):
        vi, start = windows[int(w)]
        by_video.setdefault(vi, []).append((row, start))
    for vi, rows in by_video.items():
        wanted = {start + k * win.frame_step for _, start in rows for k in range(win.seq_len)}
        small = videos[vi].frames(wanted, win.channels,
                                  lambda img: resize_frame(crop_centre(img, win.crop), win.frame_size))
        for row, start in rows:
            for k in range(win.seq_len):
                img = small[start + k * win.frame_step]
                out[row, k] = img[..., None] if img.ndim == 2 else img
    frames = from_uint8(out.transpose(0, 1, 4, 2, 3))
    del out
    meta = {
        "videos": [videos[windows[int(w)][0]].key for w in chosen],
        "starts": [windows[int(w)][1] for w in chosen],
        "frame_size": win.frame_size,
        "channels": win.channels,
        "stride": win.stride,
        "frame_step": win.frame_step,
        "uint8_exact": True,
    }
    meta.update(info or {})
    return SequenceData(dataset, split, frames, win.t_in, win.seq_len - win.t_in, meta)


def crop_fraction(crop: Any, dataset: str) -> float:
    """h36m's crop option: the kept fraction of each side of a frame, in (0, 1]."""
    try:
        kept = float(crop) if not isinstance(crop, bool) else -1.0
    except (TypeError, ValueError):
        kept = -1.0
    if not 0.0 < kept <= 1.0:
        raise ValueError(f"{dataset}: crop must be the kept fraction of the side in (0, 1], got {crop!r}")
    return kept


def read_video_set(
    family: VideoFamily,
    split: str,
    common: Common,
    *,
    root: str | os.PathLike | None = None,
    actions: str | Sequence[str] | None = None,
    crop: float = NO_CROP,
    frame_size: int = FRAME_SIZE,
    channels: int = 1,
    seq_len: int = SEQ_LEN,
    t_in: int = T_IN,
    stride: int | None = None,
    frame_step: int = 1,
) -> SequenceData:
    """A video dataset's windows: check the options, find the videos under root, read the windows of the split.

    `crop` is h36m's option as given (the other readers do not take it): checked right after the actions and
    recorded in info.
    """
    name = family.name
    folder = root_folder(root, name, family.root_holds)
    acts = name_list(actions, name, "actions", family.known_actions)
    info: dict[str, Any] = {"root": str(folder)}
    kept = 1.0
    if crop is not NO_CROP:
        kept = info["crop"] = crop_fraction(crop, name)
    frame_size = int_at_least(frame_size, "frame_size", name, 8)
    channels = channels_option(channels, name)
    seq_len, t_in = seq_len_and_t_in(seq_len, t_in, name)
    stride = seq_len if stride is None else int_at_least(stride, "stride", name, 1)
    frame_step = int_at_least(frame_step, "frame_step", name, 1)
    videos = family.find(folder, acts)
    if not videos:
        raise ValueError(f"{folder}: " + family.none_found.format(actions=",".join(acts or ())))
    win = Windowing(frame_size, channels, seq_len, t_in, stride, frame_step, kept)
    return read_windows(name, videos, split, common, win, info)
