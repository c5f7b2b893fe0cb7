"""Conversions of float frames (T, C, H, W) on [0, 1]: grey <-> RGB and resizing."""
from __future__ import annotations

import numpy as np

LUMA = (0.299, 0.587, 0.114)


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
