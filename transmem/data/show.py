"""A PNG strip of a few sequences: one row per sequence, one column per frame.

Grey (C=1) frames are drawn grey, or through a matplotlib colormap (``cmap="viridis"``, ``"jet"``, ... useful for
radar echoes); RGB (C=3) frames as they are; other channel counts show their first channel. A wider gap separates
the input frames from the output frames when t_in is given (SequenceData provides it).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from transmem.data.base import SequenceData


def strip_image(
    frames: np.ndarray | SequenceData,
    *,
    n: int = 4,
    max_frames: int | None = None,
    t_in: int | None = None,
    cmap: str | None = None,
    scale: int = 1,
    gap: int = 2,
) -> np.ndarray:
    """The strip as an (H', W', 3) uint8 RGB array; `frames` is (N, T, C, H, W) in [0, 1] or a SequenceData."""
    if isinstance(frames, SequenceData):
        t_in = frames.t_in if t_in is None else t_in
        frames = frames.frames
    frames = np.asarray(frames)
    if frames.ndim != 5:
        raise ValueError(f"expected sequences shaped (N, T, C, H, W), got shape {frames.shape}")
    if len(frames) == 0:
        raise ValueError("no sequences to show")
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    frames = frames[: max(1, int(n)), : max_frames or None]
    count, steps, channels, height, width = frames.shape
    values = np.clip(np.nan_to_num(frames.astype(np.float32)), 0.0, 1.0)
    if channels == 3 and cmap is None:
        rgb = values.transpose(0, 1, 3, 4, 2)
    else:
        grey = values[:, :, 0]
        if cmap is None:
            rgb = np.repeat(grey[..., None], 3, axis=-1)
        else:
            import matplotlib

            try:
                colormap = matplotlib.colormaps[cmap]
            except KeyError:
                raise ValueError(f"unknown colormap '{cmap}'; use a matplotlib name such as viridis, jet or gray") from None
            rgb = colormap(grey)[..., :3]
    pixels = np.rint(rgb * 255.0).astype(np.uint8)
    if scale > 1:
        pixels = pixels.repeat(scale, axis=2).repeat(scale, axis=3)
        height, width = height * scale, width * scale
    split_gap = 3 * gap if t_in is not None and 0 < t_in < steps else gap
    col_x = [t * (width + gap) + (split_gap - gap if t_in is not None and 0 < t_in <= t else 0) for t in range(steps)]
    total_w = col_x[-1] + width
    total_h = count * height + (count - 1) * gap
    canvas = np.full((total_h, total_w, 3), 255, dtype=np.uint8)
    for i in range(count):
        y = i * (height + gap)
        for t in range(steps):
            canvas[y : y + height, col_x[t] : col_x[t] + width] = pixels[i, t]
    return canvas


def save_strip(
    frames: np.ndarray | SequenceData,
    path: str | os.PathLike,
    *,
    n: int = 4,
    max_frames: int | None = None,
    t_in: int | None = None,
    cmap: str | None = None,
    scale: int = 1,
) -> Path:
    """Write the strip of `strip_image` as a PNG; returns the path."""
    from PIL import Image

    image = strip_image(frames, n=n, max_frames=max_frames, t_in=t_in, cmap=cmap, scale=scale)
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")
    return path
