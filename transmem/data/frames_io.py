"""Read a user's own frames from disk and write predictions back (used by ``transmem predict``).

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

``max_frames`` keeps the first frames only (without decoding the rest of a video or reading the rest of a folder).

``channels`` converts after reading: 3 -> 1 by the luma weights 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601),
1 -> 3 by repeating the grey channel. ``frame_size=(H, W)`` resizes every frame with Pillow on float32 data:
shrinking in both directions uses ``Image.BOX`` (each output pixel is the area-weighted mean of the input pixels it
covers, as for area interpolation), any enlargement uses ``Image.LANCZOS``; results are clipped to [0, 1].

Every problem is a one-line ValueError naming the file and what to do about it.

Writing
-------
``write_npy``, ``write_gif`` and ``write_strip`` write to a temporary file in the destination folder and then
``os.replace`` it onto the destination, so an existing file is either left as it was or replaced completely. They
create missing parent folders and return the written path.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from transmem.checkpoint import atomic_write

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "LAYOUTS",
    "read_frames",
    "read_frame_batch",
    "write_npy",
    "write_gif",
    "write_strip",
    "natural_key",
    "to_grey",
    "to_rgb",
    "resize_frames",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
ARRAY_SUFFIXES = (".npy", ".npz")
LAYOUTS = ("thw", "thwc", "tchw")
BATCH_LAYOUTS = ("nthw", "nthwc", "ntchw")
LUMA = (0.299, 0.587, 0.114)
FLOAT_SLACK = 1e-5  # floats this far outside [0, 1] are clipped (rounding), further is an error
_CHANNEL_SIZES = (1, 3, 4)
_FORMATS = "a .npy/.npz array, a folder of PNG/JPEG frames, a .gif or a video (" + ", ".join(VIDEO_SUFFIXES) + ")"


# --------------------------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------------------------
def read_frames(
    path: str | os.PathLike,
    *,
    channels: int | None = None,
    frame_size: tuple[int, int] | None = None,
    layout: str | None = None,
    key: str | None = None,
    max_frames: int | None = None,
) -> np.ndarray:
    """One sequence as float32 (T, C, H, W) in [0, 1] from an array file, an image folder, a GIF or a video.

    channels    None keeps the source's channels; 1 (grey) or 3 (RGB) converts (see the module docstring).
    frame_size  (H, W) to resize every frame to, or None.
    layout      'thw', 'thwc' or 'tchw' for .npy/.npz arrays (guessed when None); an error for other sources.
    key         the array of an .npz archive holding several; an error for other sources.
    max_frames  keep the first max_frames frames only.
    """
    path = Path(path).expanduser()
    _check_options(path, channels, frame_size, max_frames)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder; check the path ({_FORMATS})")
    suffix = path.suffix.lower()
    is_array = path.is_file() and (suffix in ARRAY_SUFFIXES)
    if layout is not None and not is_array:
        raise ValueError(f"{path}: layout= applies to .npy/.npz arrays only; drop it")
    if key is not None and not (is_array and suffix == ".npz"):
        raise ValueError(f"{path}: key= applies to .npz archives only; drop it")
    if path.is_dir():
        frames = _read_folder(path, frame_size, max_frames)
    elif suffix in ARRAY_SUFFIXES:
        array = _load_array(path, key)
        axes = _sequence_layout(path, array.shape, layout)
        if max_frames is not None:
            array = array[:max_frames]
        frames = _to_tchw(path, array, axes)
    elif suffix == ".gif":
        frames = _read_gif(path, max_frames)
    elif suffix in VIDEO_SUFFIXES:
        frames = _read_video(path, max_frames)
    elif suffix in IMAGE_SUFFIXES:
        raise ValueError(
            f"{path}: is a single image, i.e. one frame; put the sequence's frames in one folder and pass the folder"
        )
    else:
        raise ValueError(f"{path}: unsupported file type '{path.suffix or '(none)'}'; use {_FORMATS}")
    return _finish(path, frames, channels, frame_size)


def read_frame_batch(
    path: str | os.PathLike,
    *,
    channels: int | None = None,
    frame_size: tuple[int, int] | None = None,
    layout: str | None = None,
    key: str | None = None,
) -> np.ndarray:
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
    array = _load_array(path, key)
    axes = _batch_layout(path, array.shape, layout)
    if array.shape[0] < 1:
        raise ValueError(f"{path}: holds no sequences (shape {array.shape}); check the file")
    seqs = [_to_tchw(path, array[i], axes[1:]) for i in range(array.shape[0])]
    return np.stack([_finish(path, s, channels, frame_size) for s in seqs])


# --------------------------------------------------------------------------------------------------------------
# Conversions (public: the predict command may reuse them)
# --------------------------------------------------------------------------------------------------------------
def natural_key(name: str) -> tuple:
    """Sort key putting 'frame_2' before 'frame_10' (digit runs compare as numbers, the rest case-insensitively)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)) + (name,)


def to_grey(frames: np.ndarray) -> np.ndarray:
    """(..., 3, H, W) RGB -> (..., 1, H, W) grey by the BT.601 luma weights; 1-channel input is returned as is."""
    if frames.shape[-3] == 1:
        return frames
    weights = np.asarray(LUMA, dtype=np.float32).reshape(3, 1, 1)
    grey = (frames[..., :3, :, :].astype(np.float32) * weights).sum(axis=-3, keepdims=True)
    return np.clip(grey, 0.0, 1.0, out=grey)


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """(..., 1, H, W) grey -> (..., 3, H, W) by repeating the channel; 3-channel input is returned as is."""
    if frames.shape[-3] == 3:
        return frames
    return np.repeat(frames[..., :1, :, :], 3, axis=-3)


def resize_frames(frames: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Resize (T, C, H, W) float frames to frame_size = (H', W'): BOX when shrinking both ways, else LANCZOS."""
    from PIL import Image

    height, width = (int(v) for v in frame_size)
    t, c, h, w = frames.shape
    if (h, w) == (height, width):
        return frames
    method = Image.Resampling.BOX if height <= h and width <= w else Image.Resampling.LANCZOS
    out = np.empty((t, c, height, width), dtype=np.float32)
    for i in range(t):
        for j in range(c):
            plane = Image.fromarray(np.ascontiguousarray(frames[i, j], dtype=np.float32))
            out[i, j] = np.asarray(plane.resize((width, height), resample=method), dtype=np.float32)
    return np.clip(out, 0.0, 1.0, out=out)


# --------------------------------------------------------------------------------------------------------------
# Public writers
# --------------------------------------------------------------------------------------------------------------
def write_npy(path: str | os.PathLike, frames: np.ndarray) -> Path:
    """Save float32 frames (T, C, H, W) or (N, T, C, H, W) as a .npy file, atomically; returns the path."""
    array = np.asarray(frames)
    if array.ndim not in (4, 5):
        raise ValueError(f"{path}: write_npy expects frames (T, C, H, W) or (N, T, C, H, W), got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    return _atomic_write(Path(path), lambda f: np.save(f, array, allow_pickle=False))


def write_gif(
    path: str | os.PathLike,
    frames: np.ndarray | Sequence[np.ndarray],
    fps: float = 4,
    *,
    cmap: str | None = None,
    scale: int = 1,
    gap: int = 2,
    loop: int = 0,
) -> Path:
    """An animated GIF of one sequence (T, C, H, W), or of several sequences played side by side.

    frames  one (T, C, H, W) array, or a list of them (e.g. [input, prediction]) laid out left to right with `gap`
            white pixels between them; a shorter sequence holds its last frame, smaller frames are padded white.
            Values are float in [0, 1] (clipped; NaN shows black) or uint8.
    fps     frames per second (GIF timing is in 1/100 s, so it is rounded to that).
    cmap    a matplotlib colormap name for 1-channel frames (e.g. 'viridis'), or None for grey.
    scale   integer nearest-neighbour enlargement, for small frames.
    loop    0 = loop forever.

    Grey GIFs are exact (256 grey levels); RGB ones are quantised by Pillow to 256 colours per frame. Pillow merges
    consecutive identical frames into one longer frame, so such a GIF has fewer frames than the sequence.
    """
    from PIL import Image

    path = Path(path)
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not 0 < fps <= 100:
        raise ValueError(f"{path}: fps must be a number in (0, 100], got {fps!r}")
    seqs = _as_sequences(path, frames)
    _check_int(path, "scale", scale, 1)
    _check_int(path, "gap", gap, 0)
    pixels = [_render(path, s, cmap, scale) for s in seqs]  # each (T, H, W, 3|1) uint8
    grey = all(p.shape[-1] == 1 for p in pixels)
    if not grey:
        pixels = [np.repeat(p, 3, axis=-1) if p.shape[-1] == 1 else p for p in pixels]
    steps = max(len(p) for p in pixels)
    height = max(p.shape[1] for p in pixels)
    widths = [p.shape[2] for p in pixels]
    total_w = sum(widths) + gap * (len(pixels) - 1)
    canvas = np.full((steps, height, total_w, pixels[0].shape[-1]), 255, dtype=np.uint8)
    x = 0
    for p in pixels:
        t, h, w = p.shape[:3]
        canvas[:t, :h, x : x + w] = p
        canvas[t:, :h, x : x + w] = p[-1]
        x += w + gap
    images = [Image.fromarray(np.ascontiguousarray(c[..., 0] if grey else c)) for c in canvas]
    duration = max(10, int(round(1000.0 / float(fps) / 10.0)) * 10)

    def save(f):
        images[0].save(
            f, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=int(loop), optimize=False
        )

    return _atomic_write(path, save)


def write_strip(
    path: str | os.PathLike,
    rows: np.ndarray | Sequence[np.ndarray],
    row_labels: Sequence[str] | None = None,
    cmap: str | None = None,
    *,
    scale: int = 1,
    gap: int = 2,
) -> Path:
    """A PNG grid: one row per sequence (e.g. input / truth / each model's prediction), one column per frame.

    rows        a list of (T, C, H, W) arrays (float in [0, 1] or uint8), one (T, C, H, W) array (one row) or an
                (N, T, C, H, W) array (N rows). Rows may differ in length (missing cells stay white) and frame size.
    row_labels  one text per row, drawn left of the row (None: no label column).
    cmap        matplotlib colormap name for 1-channel rows (e.g. 'viridis' for radar echoes); RGB rows ignore it.
    scale       integer nearest-neighbour enlargement of every frame; gap: white pixels between cells.

    Drawn with Pillow (no matplotlib figure), saved as an optimised PNG, so the file stays small.
    """
    from PIL import Image, ImageDraw

    path = Path(path)
    seqs = _as_sequences(path, rows)
    _check_int(path, "scale", scale, 1)
    _check_int(path, "gap", gap, 0)
    if row_labels is not None:
        row_labels = [str(label) for label in row_labels]
        if len(row_labels) != len(seqs):
            raise ValueError(f"{path}: {len(row_labels)} row_labels for {len(seqs)} rows; give one label per row")
    pixels = [_render(path, s, cmap, scale) for s in seqs]
    pixels = [np.repeat(p, 3, axis=-1) if p.shape[-1] == 1 else p for p in pixels]
    cell_h = max(p.shape[1] for p in pixels)
    cell_w = max(p.shape[2] for p in pixels)
    steps = max(len(p) for p in pixels)
    font = _font(cell_h)
    label_w = 0
    if row_labels:
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_w = int(max(probe.textlength(label, font=font) for label in row_labels)) + max(gap, 3) + 8
    total_w = label_w + steps * cell_w + (steps - 1) * gap
    total_h = len(pixels) * cell_h + (len(pixels) - 1) * gap
    canvas = np.full((total_h, total_w, 3), 255, dtype=np.uint8)
    for r, p in enumerate(pixels):
        y = r * (cell_h + gap)
        for t in range(len(p)):
            x = label_w + t * (cell_w + gap)
            canvas[y : y + p.shape[1], x : x + p.shape[2]] = p[t]
    image = Image.fromarray(canvas)
    if row_labels:
        draw = ImageDraw.Draw(image)
        freetype = _has_anchor(font)
        for r, label in enumerate(row_labels):
            y = r * (cell_h + gap) + cell_h // 2
            if freetype:
                draw.text((max(gap, 3), y), label, fill=(0, 0, 0), font=font, anchor="lm")
            else:  # bitmap font: no anchors, place the text's top half a line above the middle
                draw.text((max(gap, 3), max(0, y - 5)), label, fill=(0, 0, 0), font=font)
    return _atomic_write(path, lambda f: image.save(f, format="PNG", optimize=True))


# --------------------------------------------------------------------------------------------------------------
# Internals: options, arrays
# --------------------------------------------------------------------------------------------------------------
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
        _check_int(path, "max_frames", max_frames, 1)


def _check_int(path: Path, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{path}: {name} must be an integer >= {low}, got {value!r}")


def _load_array(path: Path, key: str | None) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npz":
            if not zipfile.is_zipfile(path):
                raise ValueError("not a complete zip archive")
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if key is None and len(names) != 1:
                    raise _Fatal(
                        f"{path}: holds the arrays {', '.join(names) or '(none)'}; choose one with key=NAME"
                    )
                if key is not None and key not in names:
                    raise _Fatal(f"{path}: has no array '{key}'; it holds {', '.join(names) or '(none)'}")
                return archive[key if key is not None else names[0]]
        return np.load(path, allow_pickle=False)
    except _Fatal as err:
        raise ValueError(str(err)) from None
    except Exception as err:  # numpy raises ValueError, OSError, EOFError, BadZipFile, ... for broken files
        raise ValueError(
            f"{path}: cannot be read as a numpy array ({_reason(err)}); the file is truncated, not a numpy file or "
            "holds Python objects: save the frames again with np.save / np.savez"
        ) from None


class _Fatal(Exception):
    """An error message already in its final form (raised inside a broad try block)."""


def _named_layout(path: Path, shape: tuple[int, ...], layout: str, allowed: Sequence[str]) -> str:
    """A layout the caller named, checked against `allowed` and the array's axes: one rule for sequence and batch."""
    axes = str(layout).lower()
    if axes not in allowed:
        raise ValueError(f"{path}: layout must be one of {', '.join(allowed)}, got {layout!r}")
    if len(axes) != len(shape):
        raise ValueError(f"{path}: layout {axes} needs a {len(axes)}-D array but the array has shape {shape}")
    return axes


def _sequence_layout(path: Path, shape: tuple[int, ...], layout: str | None) -> str:
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


def _batch_layout(path: Path, shape: tuple[int, ...], layout: str | None) -> str:
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
    first_ok, last_ok = first in _CHANNEL_SIZES, last in _CHANNEL_SIZES
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


def _to_tchw(path: Path, array: np.ndarray, axes: str) -> np.ndarray:
    """Array with axes 'thw' / 'thwc' / 'tchw' (numpy dtype rules above) -> float32 (T, C, H, W) in [0, 1]."""
    if "c" not in axes:
        array, axes = array[..., None], axes + "c"
    array = np.transpose(array, [axes.index(a) for a in "tchw"])
    t, c, h, w = array.shape
    if c not in _CHANNEL_SIZES:
        raise ValueError(
            f"{path}: {c} channels per frame; frames need 1 (grey), 3 (RGB) or 4 (RGBA) channels, check layout="
        )
    if min(t, h, w) < 1:
        raise ValueError(f"{path}: holds no frames or empty frames (shape {array.shape}); check the file")
    if c == 4:
        array = array[:, :3]
    return _normalise(path, array)


def _normalise(path: Path, array: np.ndarray) -> np.ndarray:
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


def _finish(path: Path, frames: np.ndarray, channels: int | None, frame_size: tuple[int, int] | None) -> np.ndarray:
    """Apply the channel conversion and resize to (T, C, H, W) float32 frames with C in (1, 3)."""
    if channels == 1:
        frames = to_grey(frames)
    if frame_size is not None:
        frames = resize_frames(frames, frame_size)
    if channels == 3:
        frames = to_rgb(frames)
    return np.ascontiguousarray(frames, dtype=np.float32)


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


# --------------------------------------------------------------------------------------------------------------
# Internals: images, GIF, video
# --------------------------------------------------------------------------------------------------------------
def _image_array(path: Path, image) -> tuple[np.ndarray, bool]:
    """A PIL image -> (H, W, C) float32 in [0, 1] with C in (1, 3), and whether it is a grey image."""
    mode = image.mode
    if mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"), dtype=np.float32)[..., None] / 255.0, True
    if mode.startswith("I;16") or mode == "I":
        data = np.asarray(image, dtype=np.float32)
        if data.min() < 0 or data.max() > 65535:
            raise _Fatal(f"{path}: 32-bit integer image values outside 0-65535; save it as an 8- or 16-bit image")
        return (data / 65535.0)[..., None], True
    if mode == "F":
        try:
            return _normalise(path, np.asarray(image, dtype=np.float32)[..., None]), True
        except ValueError as err:
            raise _Fatal(str(err)) from None
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if mode == "P" and _is_grey(rgb):
        return rgb[..., :1], True
    return rgb, False


def _is_grey(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]))


def _read_folder(folder: Path, frame_size: tuple[int, int] | None, max_frames: int | None) -> np.ndarray:
    from PIL import Image

    files = sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        ),
        key=lambda p: natural_key(p.name),
    )
    if not files:
        raise ValueError(
            f"{folder}: no PNG/JPEG images in this folder; put the frames there (e.g. frame_000.png, frame_001.png, "
            "...) or pass the array, GIF or video file instead"
        )
    if max_frames is not None:
        files = files[:max_frames]
    frames, greys, first = [], [], None
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                data, grey = _image_array(file, image)
        except _Fatal as err:
            raise ValueError(str(err)) from None
        except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... for broken files
            raise ValueError(
                f"{file}: cannot read this image ({_reason(err)}); replace it or remove it from the folder"
            ) from None
        if frame_size is not None:
            data = resize_frames(data.transpose(2, 0, 1)[None], frame_size)[0].transpose(1, 2, 0)
        elif first is None:
            first = (file, data.shape[:2])
        elif data.shape[:2] != first[1]:
            (h0, w0), (h1, w1) = first[1], data.shape[:2]
            raise ValueError(
                f"{folder}: frames differ in size ({first[0].name} is {h0}x{w0}, {file.name} is {h1}x{w1}); "
                "resize them to one size or pass frame_size=(H, W)"
            )
        frames.append(data)
        greys.append(grey)
    if not all(greys):
        frames = [np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f for f in frames]
    return np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32, copy=False)


def _read_gif(path: Path, max_frames: int | None) -> np.ndarray:
    from PIL import Image, ImageSequence

    frames = []
    try:
        with Image.open(path) as image:
            if image.format != "GIF":
                raise _Fatal(f"{path}: is a {image.format} image, not a GIF; rename it or convert it to GIF")
            for frame in ImageSequence.Iterator(image):
                frames.append(np.asarray(frame.convert("RGB"), dtype=np.uint8))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except _Fatal as err:
        raise ValueError(str(err)) from None
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read this GIF ({_reason(err)}); the file is truncated or corrupt, save it again"
        ) from None
    if not frames:
        raise ValueError(f"{path}: the GIF holds no frames; save it again")
    rgb = np.stack(frames)
    if _is_grey(rgb):
        rgb = rgb[..., :1]
    out = rgb.transpose(0, 3, 1, 2).astype(np.float32)
    out /= 255.0
    return out


def _read_video(path: Path, max_frames: int | None) -> np.ndarray:
    try:
        import av
    except ImportError:
        raise ValueError(
            f"{path}: reading videos needs PyAV; install it (pip install av) or convert the video to a folder of PNGs"
        ) from None
    frames = []
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise _Fatal(f"{path}: holds no video stream; pass a video file with frames")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except _Fatal as err:
        raise ValueError(str(err)) from None
    except Exception as err:  # av.error.* (InvalidDataError, ...), OSError
        raise ValueError(
            f"{path}: cannot decode this video ({_reason(err)}); the file is truncated, corrupt or not a video: "
            "save it again or convert it to a folder of PNGs"
        ) from None
    if not frames:
        raise ValueError(f"{path}: the video holds no frames; check the file")
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError(f"{path}: the video changes its frame size; pass frame_size=(H, W) after converting to PNGs")
    out = np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32)
    out /= 255.0
    return out


# --------------------------------------------------------------------------------------------------------------
# Internals: writers
# --------------------------------------------------------------------------------------------------------------
def _atomic_write(path: Path, write: Callable[[Any], None]) -> Path:
    """Write through `write(fileobj)` to a temporary file beside `path`, then move it onto `path`."""
    path = path.expanduser()

    def to_file(tmp: str) -> None:
        with open(tmp, "wb") as f:
            write(f)

    atomic_write(path, to_file)
    return path


def _as_sequences(path: Path, frames: Any) -> list[np.ndarray]:
    if isinstance(frames, np.ndarray) and frames.ndim == 5:
        seqs = list(frames)
    elif isinstance(frames, np.ndarray) or not isinstance(frames, (list, tuple)):
        seqs = [np.asarray(frames)]
    else:
        seqs = [np.asarray(s) for s in frames]
    if not seqs:
        raise ValueError(f"{path}: nothing to draw; pass at least one sequence (T, C, H, W)")
    for i, s in enumerate(seqs):
        if s.ndim != 4 or s.shape[0] < 1 or s.shape[1] not in _CHANNEL_SIZES or min(s.shape[2:]) < 1:
            raise ValueError(
                f"{path}: sequence {i} has shape {s.shape}; expected (T, C, H, W) with T >= 1 and C in 1, 3 or 4"
            )
    return seqs


def _render(path: Path, frames: np.ndarray, cmap: str | None, scale: int) -> np.ndarray:
    """(T, C, H, W) float [0, 1] or uint8 -> (T, H', W', 1 or 3) uint8 (1 for grey without cmap)."""
    if frames.dtype == np.uint8:
        values = frames.astype(np.float32) / 255.0
    else:
        values = np.clip(np.nan_to_num(frames.astype(np.float32), nan=0.0), 0.0, 1.0)
    values = values[:, :3].transpose(0, 2, 3, 1)
    if values.shape[-1] == 1 and cmap is not None:
        import matplotlib

        try:
            colormap = matplotlib.colormaps[cmap]
        except KeyError:
            raise ValueError(
                f"{path}: unknown colormap '{cmap}'; use a matplotlib name such as viridis, jet or gray"
            ) from None
        values = colormap(values[..., 0])[..., :3]
    pixels = np.rint(values * 255.0).astype(np.uint8)
    if scale > 1:
        pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    return pixels


def _font(cell_h: int):
    from PIL import ImageFont

    size = int(min(16, max(10, cell_h // 5)))
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap font without size
        return ImageFont.load_default()


def _has_anchor(font) -> bool:
    from PIL import ImageFont

    return isinstance(font, ImageFont.FreeTypeFont)
