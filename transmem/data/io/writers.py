"""Write frames: arrays, animated GIFs and PNG strips of sequences (predictions, datasets).

``write_npy``, ``write_gif`` and ``write_strip`` write to a temporary file in the destination folder and then
``os.replace`` it onto the destination, so an existing file is either left as it was or replaced completely. They
create missing parent folders and return the written path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from transmem.checkpoint import atomic_write
from transmem.data.io.arrays import CHANNEL_SIZES
from transmem.data.io.errors import check_int


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
    path = Path(path)
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not 0 < fps <= 100:
        raise ValueError(f"{path}: fps must be a number in (0, 100], got {fps!r}")
    seqs = _as_sequences(path, frames)
    check_int(path, "scale", scale, 1)
    check_int(path, "gap", gap, 0)
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
    path = Path(path)
    seqs = _as_sequences(path, rows)
    check_int(path, "scale", scale, 1)
    check_int(path, "gap", gap, 0)
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
        if s.ndim != 4 or s.shape[0] < 1 or s.shape[1] not in CHANNEL_SIZES or min(s.shape[2:]) < 1:
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
    size = int(min(16, max(10, cell_h // 5)))
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: bitmap font without size
        return ImageFont.load_default()


def _has_anchor(font) -> bool:
    return isinstance(font, ImageFont.FreeTypeFont)
