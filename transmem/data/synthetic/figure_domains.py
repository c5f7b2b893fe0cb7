"""The three domains of stick figures: how each looks and moves (`Style`, `STYLES`), and what a domain paints
around its figure: the background (plain, gradient or a room in perspective) and the colours of clothes and skin."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from transmem.data.synthetic.figure_pose import ACTIONS


@dataclass(frozen=True)
class Style:
    """How one synthetic domain looks and moves."""

    name: str
    rgb: bool
    actions: tuple[str, ...]
    height: tuple[float, float]  # standing height / frame height (h36m: at the reference depth)
    body: dict[str, float]  # multipliers of BODY entries
    jitter: float  # per-sequence random relative change of every body measure
    period_scale: tuple[float, float]
    amp_scale: tuple[float, float]
    background: str  # plain | gradient | room
    perspective: bool  # walks anywhere on a floor seen in perspective (h36m-synth)
    description: str = ""


STYLES = {
    "kth-synth": Style(
        "kth-synth", False, ACTIONS, (0.5, 0.68), {}, 0.04, (0.95, 1.1), (0.9, 1.1), "plain", False,
        "KTH-like stand-in: grey stick figures on a plain light background, walk/jog/run/box/wave/clap (128x128, 4->4)",
    ),
    "weizmann-synth": Style(
        "weizmann-synth", False, ACTIONS, (0.38, 0.5),
        {"upper_leg": 1.1, "lower_leg": 1.1, "torso": 0.92, "head": 0.9, "r_torso": 0.8, "r_upper_arm": 0.8,
         "r_lower_arm": 0.8, "r_upper_leg": 0.8, "r_lower_leg": 0.8},
        0.05, (0.75, 0.9), (0.95, 1.15), "gradient", False,
        "Weizmann-like stand-in: small grey figures, other proportions and speeds, gradient outdoor background "
        "(128x128, 4->4)",
    ),
    "h36m-synth": Style(
        "h36m-synth", True, ("walk",), (0.65, 1.0), {}, 0.10, (0.5, 0.75), (0.8, 1.35), "room", True,
        "Human3.6M-like target: RGB walkers in a textured room, turning and moving in depth (128x128, 4->4)",
    ),
}


def smooth_noise(rng: np.random.Generator, cells: int, size: int, channels: int = 1) -> np.ndarray:
    """Smooth random field on [0, 1], (size, size, channels) float32: bicubic upsampling of a coarse random grid."""
    coarse = (rng.random((cells, cells, channels)) * 255).astype(np.uint8)
    img = Image.fromarray(coarse[..., 0] if channels == 1 else coarse, "L" if channels == 1 else "RGB")
    out = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) * np.float32(1 / 255)
    return out.reshape(size, size, channels)


def background(style: Style, rng: np.random.Generator, size: int, camera: dict[str, float]) -> np.ndarray:
    """Background (size, size, 3) float32 on [0, 1] (grey domains: three equal channels)."""
    yy = (np.arange(size, dtype=np.float32)[:, None] + 0.5) / size
    xx = (np.arange(size, dtype=np.float32)[None, :] + 0.5) / size
    rng_uniform = rng.uniform

    def uniform(lo, hi, n=None):
        return np.float32(rng_uniform(lo, hi)) if n is None else rng_uniform(lo, hi, n).astype(np.float32)

    if style.background == "plain":
        level = uniform(0.62, 0.82)
        grey = level + uniform(-0.04, 0.04) * (yy - 0.5) + uniform(-0.03, 0.03) * (xx - 0.5)
        grey = grey + 0.02 * (smooth_noise(rng, 3, size)[..., 0] - 0.5)
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1)
    if style.background == "gradient":
        horizon = uniform(0.35, 0.6)
        top, low = uniform(0.78, 0.95), uniform(0.62, 0.75)
        ground_near, ground_far = uniform(0.4, 0.55), uniform(0.55, 0.68)
        sky = top + (low - top) * (yy / horizon)
        ground = ground_far + (ground_near - ground_far) * (yy - horizon) / (1 - horizon)
        grey = np.where(yy < horizon, sky, ground) + 0.0 * xx
        grey = grey + 0.04 * (smooth_noise(rng, 6, size)[..., 0] - 0.5)
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1)
    # room: a wall with panels and blotches above the horizon, a tiled floor in perspective below it
    wall_colour = uniform(0.35, 0.8, 3) * uniform(0.85, 1.0)
    floor_colour = uniform(0.25, 0.65, 3)
    wall = wall_colour + 0.1 * (smooth_noise(rng, 6, size, 3) - 0.5) + 0.06 * (smooth_noise(rng, 24, size, 3) - 0.5)
    panels = int(rng.integers(3, 8))
    stripe = (np.floor(xx * panels + rng.random()) % 2)[..., None] * uniform(-0.08, 0.08, 3)
    wall = wall + stripe + 0.0 * yy[..., None]
    h = camera["horizon"]
    depth = camera["focal"] * camera["height"] / np.maximum(yy - h, 1e-3)  # floor distance of each row
    across = (xx - 0.5) * depth / camera["focal"]
    tile = camera["tile"]
    checker = ((np.floor(across / tile) + np.floor(depth / tile)) % 2)[..., None]
    floor = floor_colour + checker * uniform(0.05, 0.15) + 0.08 * (smooth_noise(rng, 32, size, 3) - 0.5)
    img = np.where((yy < h)[..., None], wall, floor)
    return np.clip(img, 0, 1)


def colours(style: Style, rng: np.random.Generator, background: float) -> dict[str, np.ndarray]:
    if style.rgb:
        def hsv(h, s, v):
            return np.asarray(Image.new("HSV", (1, 1), (int(h * 255), int(s * 255), int(v * 255))).convert("RGB")
                              .getpixel((0, 0)), dtype=np.float32) / 255.0
        skin = np.array([[0.92, 0.76, 0.64], [0.80, 0.60, 0.47], [0.58, 0.40, 0.29], [0.42, 0.29, 0.21]])[
            rng.integers(4)] * rng.uniform(0.9, 1.05)
        light = background < 0.5  # clothes stand out from the room: light on dark rooms, dark or vivid on light ones
        shirt = hsv(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.75, 1.0) if light else rng.uniform(0.1, 0.45))
        trousers = hsv(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.6, 0.9) if light else rng.uniform(0.05, 0.3))
        shoes = np.full(3, rng.uniform(0.05, 0.3))
        hair = hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.45))
        sleeve = shirt if rng.random() < 0.5 else skin
    else:
        dark = background > 0.5
        def grey(lo, hi):
            v = rng.uniform(lo, hi)
            return np.full(3, v if dark else 1.0 - v)
        shirt, trousers = grey(0.1, 0.45), grey(0.1, 0.42)
        skin, shoes, hair = grey(0.22, 0.5), grey(0.02, 0.2), grey(0.02, 0.25)
        sleeve = shirt if rng.random() < 0.6 else skin
    return {"shirt": shirt, "sleeve": sleeve, "trousers": trousers, "skin": skin, "shoes": shoes, "hair": hair}


def rgb8(c: np.ndarray) -> tuple[int, int, int]:
    c = np.clip(np.asarray(c) * 255.0 + 0.5, 0, 255).astype(int)
    return int(c[0]), int(c[1]), int(c[2])
