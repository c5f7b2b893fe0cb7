"""What every dataset returns: float32 sequences (N, T, C, H, W) in [0, 1] plus what is needed to read them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPLITS = ("train", "valid", "test")


@dataclass
class SequenceData:
    """A split of a dataset held in memory.

    frames: float32 array (N, T, C, H, W) with values in [0, 1].
    t_in / t_out: the benchmark's input and output lengths (t_in + t_out <= T).
    info: anything a consumer may need, e.g. {"dbz": {"scale": 70.0, "offset": -10.0}} for radar.
    """

    name: str
    split: str
    frames: np.ndarray
    t_in: int
    t_out: int
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_sequences(self.frames, source=f"{self.name}/{self.split}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got '{self.split}'")
        if self.t_in < 1 or self.t_out < 1 or self.t_in + self.t_out > self.frames.shape[1]:
            raise ValueError(
                f"{self.name}: t_in={self.t_in} + t_out={self.t_out} does not fit sequences of "
                f"{self.frames.shape[1]} frames"
            )

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(self.frames.shape[2:])  # (C, H, W)


def check_sequences(frames: np.ndarray, *, source: str) -> None:
    """One-line errors for the mistakes users make when they bring their own arrays."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"{source}: expected a numpy array, got {type(frames).__name__}")
    if frames.ndim != 5:
        raise ValueError(f"{source}: expected sequences shaped (N, T, C, H, W), got shape {frames.shape}")
    if frames.dtype != np.float32:
        raise ValueError(f"{source}: expected float32 frames, got {frames.dtype}; convert with .astype(np.float32)")
    if frames.size and not np.isfinite(frames).all():
        raise ValueError(f"{source}: frames contain NaN or infinite values; clean or drop those sequences")
    if frames.size and (frames.min() < 0.0 or frames.max() > 1.0):
        raise ValueError(
            f"{source}: frames must lie in [0, 1], found [{frames.min():.3g}, {frames.max():.3g}]; divide by 255 for uint8 data"
        )


def from_uint8(frames_u8: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 values k / 255 on [0, 1] (a new array; the cache stores such frames as uint8)."""
    out = frames_u8.astype(np.float32)
    out /= 255.0
    return out
