"""Read a user's own frames from disk (used by ``transmem predict``).

Reading
-------
``read_frames(path)`` returns ONE sequence as float32 ``(T, C, H, W)`` with values in [0, 1]; ``read_frame_batch``
returns several, ``(N, T, C, H, W)``, from a .npy / .npz array. Sources of ``read_frames``:

``.npy``
    One array holding one sequence. The axes are named by ``layout`` ('thw', 'thwc' or 'tchw', any case) or guessed:

    * 3-D ``(T, H, W)``: grey frames ('thw').
    * 4-D ``(T, A, B, D)``: the channel axis is the one of size 1, 3 or 4 -- ``D`` ('thwc', channel last) or ``A``
      ('tchw', channel first). When both or neither have such a size the file is ambiguous and a ValueError asks for
      ``layout=``.

    Channels: 1 (grey), 3 (RGB) or 4 (RGBA: the alpha channel is dropped, not composited).
    dtype: uint8 is divided by 255; floats (and bool) must already lie in [0, 1] (a rounding slack of 1e-5 is clipped
    away); NaN / infinite values and other dtypes (int16, int64, ...) are errors.
``.npz``
    The same, for the archive's only array or the one named by ``key``.
a folder
    The PNG / JPEG (also BMP / TIFF) images in it, one frame each, in natural order of their names
    (``frame_2.png`` before ``frame_10.png``; other files and sub-folders are ignored). Grey images (modes L, 1, I;16,
    ...) give C=1, colour ones C=3; a folder mixing both is read as RGB. Palette images are grey when every pixel has
    R == G == B. 16-bit images are divided by 65535. All images must have one size, unless ``frame_size`` is given, in
    which case each is resized on its own.
``.gif``
    Every frame of an animated GIF (Pillow resolves the disposal of partial frames). C=1 when every pixel of every
    frame is grey (R == G == B), else C=3.
a video (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``)
    Every frame of the first video stream, decoded with PyAV (``pip install av``) to RGB, so C=3; pass
    ``channels=1`` for grey frames (video codecs store colour, so grey content comes back only nearly grey).

``max_frames`` keeps the first frames only (without decoding the rest of a video or reading the rest of a folder);
``last_frames`` keeps the last ones (of those). Reading is bounded by what is kept: a folder opens only the kept
images, a .npy is memory-mapped and sliced, a GIF holds only the kept frames while it decodes, and a video converts
and resizes each frame as it is decoded, so a long high-resolution clip costs last_frames x the kept frame size.

``channels`` converts after reading: 3 -> 1 by the luma weights 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601),
1 -> 3 by repeating the grey channel. ``frame_size=(H, W)`` resizes every frame with Pillow on float32 data:
shrinking in both directions uses ``Image.BOX`` (each output pixel is the area-weighted mean of the input pixels it
covers, as for area interpolation), any enlargement uses ``Image.LANCZOS``; results are clipped to [0, 1].

Every problem is a one-line ValueError naming the file and what to do about it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from transmem.data.io.arrays import (
    ARRAY_SUFFIXES,
    batch_layout,
    load_frames_array,
    sequence_layout,
    to_tchw,
)
from transmem.data.io.convert import resize_frames, to_grey, to_rgb
from transmem.data.io.errors import check_int
from transmem.data.io.images import IMAGE_SUFFIXES, read_folder, read_gif
from transmem.data.io.video import read_video

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_FORMATS = "a .npy/.npz array, a folder of PNG/JPEG frames, a .gif or a video (" + ", ".join(VIDEO_SUFFIXES) + ")"


def read_frames(
    path: str | os.PathLike,
    *,
    channels: int | None = None,
    frame_size: tuple[int, int] | None = None,
    layout: str | None = None,
    key: str | None = None,
    max_frames: int | None = None,
    last_frames: int | None = None,
) -> np.ndarray:
    """One sequence as float32 (T, C, H, W) in [0, 1] from an array file, an image folder, a GIF or a video.

    channels    None keeps the source's channels; 1 (grey) or 3 (RGB) converts (see the module docstring).
    frame_size  (H, W) to resize every frame to, or None.
    layout      'thw', 'thwc' or 'tchw' for .npy/.npz arrays (guessed when None); an error for other sources.
    key         the array of an .npz archive holding several; an error for other sources.
    max_frames  keep the first max_frames frames only.
    last_frames keep the last last_frames frames (of the first max_frames) only.
    """
    path = Path(path).expanduser()
    _check_options(path, channels, frame_size, max_frames)
    if last_frames is not None:
        check_int(path, "last_frames", last_frames, 1)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder; check the path ({_FORMATS})")
    suffix = path.suffix.lower()
    is_array = path.is_file() and (suffix in ARRAY_SUFFIXES)
    if layout is not None and not is_array:
        raise ValueError(f"{path}: layout= applies to .npy/.npz arrays only; drop it")
    if key is not None and not (is_array and suffix == ".npz"):
        raise ValueError(f"{path}: key= applies to .npz archives only; drop it")
    if path.is_dir():
        frames = read_folder(path, frame_size, max_frames, last_frames)
    elif suffix in ARRAY_SUFFIXES:
        array = load_frames_array(path, key, mmap=True)
        axes = sequence_layout(path, array.shape, layout)
        if max_frames is not None:
            array = array[:max_frames]
        if last_frames is not None:
            array = array[-last_frames:]
        frames = to_tchw(path, np.array(array), axes)  # a copy of the kept frames only (the map is read-only)
    elif suffix == ".gif":
        frames = read_gif(path, max_frames, last_frames)
    elif suffix in VIDEO_SUFFIXES:  # converted frame by frame as decoded: the finish below then has nothing to do
        frames = read_video(path, max_frames, last_frames, convert=lambda f: _finish(path, f, channels, frame_size))
    elif suffix in IMAGE_SUFFIXES:
        raise ValueError(
            f"{path}: is a single image, i.e. one frame; put the sequence's frames in one folder and pass the folder"
        )
    else:
        raise ValueError(f"{path}: unsupported file type '{path.suffix or '(none)'}'; use {_FORMATS}")
    return _finish(path, frames, channels, frame_size)


def read_frame_batch(path: str | os.PathLike, *, channels: int | None = None, frame_size: tuple[int, int] | None = None,
                     layout: str | None = None, key: str | None = None) -> np.ndarray:
    """Several sequences as float32 (N, T, C, H, W) in [0, 1] from a .npy / .npz array.

    4-D arrays are (N, T, H, W) ('nthw'); 5-D arrays are (N, T, H, W, C) ('nthwc') or (N, T, C, H, W) ('ntchw'),
    guessed by which of the two candidate axes has size 1, 3 or 4 unless `layout` says. dtype, value and channel rules
    and `channels` / `frame_size` are those of `read_frames`.
    """
    path = Path(path).expanduser()
    _check_options(path, channels, frame_size, None)
    if not path.exists():
        raise ValueError(f"{path}: no such file; check the path")
    if not path.is_file() or path.suffix.lower() not in ARRAY_SUFFIXES:
        raise ValueError(
            f"{path}: a batch of sequences must be a .npy/.npz array (N, T, H, W[, C]); use read_frames for "
            "folders, GIFs and videos"
        )
    if key is not None and path.suffix.lower() != ".npz":
        raise ValueError(f"{path}: key= applies to .npz archives only; drop it")
    array = load_frames_array(path, key)
    axes = batch_layout(path, array.shape, layout)
    if array.shape[0] < 1:
        raise ValueError(f"{path}: holds no sequences (shape {array.shape}); check the file")
    seqs = [to_tchw(path, array[i], axes[1:]) for i in range(array.shape[0])]
    return np.stack([_finish(path, s, channels, frame_size) for s in seqs])


def _check_options(path: Path, channels: Any, frame_size: Any, max_frames: Any) -> None:
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise ValueError(f"{path}: channels must be 1 (grey), 3 (RGB) or None (as stored), got {channels!r}")
    if frame_size is not None:
        ok = (
            isinstance(frame_size, (tuple, list))
            and len(frame_size) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in frame_size)
        )
        if not ok:
            raise ValueError(f"{path}: frame_size must be (height, width) in positive integers, got {frame_size!r}")
    if max_frames is not None:
        check_int(path, "max_frames", max_frames, 1)


def _finish(path: Path, frames: np.ndarray, channels: int | None, frame_size: tuple[int, int] | None) -> np.ndarray:
    """Apply the channel conversion and resize to (T, C, H, W) float32 frames with C in (1, 3)."""
    shrinking = frame_size is not None and frame_size[0] <= frames.shape[-2] and frame_size[1] <= frames.shape[-1]
    if shrinking:  # area averaging and the luma weights are both linear: shrinking first gives the same frames faster
        frames = resize_frames(frames, frame_size)
    if channels == 1:
        frames = to_grey(frames)
    if frame_size is not None and not shrinking:
        frames = resize_frames(frames, frame_size)
    if channels == 3:
        frames = to_rgb(frames)
    return np.ascontiguousarray(frames, dtype=np.float32)
