"""Generated human motion, the offline stand-ins of the human motion benchmark (paper section 4.2): procedurally
rendered articulated figures, 128x128 frames, 4 input -> 4 output frames, values on [0, 1]. The readers of the real
KTH / Weizmann / Human3.6M data are transmem.data.readers.human_motion.

``kth-synth``, ``weizmann-synth`` (sources) and ``h36m-synth`` (target). Each figure is a capsule skeleton
(head, torso, upper/lower arms and legs, feet) whose joint angles follow per-action periodic patterns:

* walk / jog / run: hips swing sinusoidally, the knee flexes in the swing phase, the arms swing against the
  same-side leg, elbow flexion and forward lean grow with speed; the body translates by the stride length per
  gait cycle (so the feet do not slide) and is kept on the ground by its lowest foot;
* box (side view, alternating punches from a guard), wave (front view, both arms raised, KTH "handwaving"),
  clap (front view, forearms closing in front of the chest).

Domains, in the spirit of the real sets (sources: plain, few actors, simple motion; target: harder):

* ``kth-synth``: grey, plain light background, figure 50-68 % of the frame height, all six actions, walk / jog /
  run across the frame in side view, box in side view, wave / clap facing the camera in place.
* ``weizmann-synth``: grey, smaller figures (38-50 %) with longer legs and slimmer limbs, faster gait cycles,
  a sky-to-ground gradient background with a horizon.
* ``h36m-synth``: RGB; textured room (noisy wall with panels, perspective tiled floor); coloured clothes and
  skin; walking (as the Walking subset of Human3.6M) in any direction on the floor, turning while walking and
  moving in depth, so scale and foreshortening change within a sequence; wider ranges of gait speed and
  amplitude; some actors keep one arm still or hold it to the head.

Figures are drawn with Pillow at 2x resolution and box-filtered down (anti-aliasing), then quantised to 8 bits
like real video (so the cache stores uint8). Options: ``frame_size`` (default 128), ``seq_len`` (8), ``t_in``
(4), ``channels`` (1 for the grey sources, 3 for the target; 3 repeats a grey source, 1 turns the target into
luminance), ``actions`` (comma list restricting the actions of a source; h36m-synth only walks).
Default sizes: 2,000 train / 300 valid / 500 test sequences (the paper's Human3.6M: 2,220 / 300 / 1,056).
Sequence i of a split is drawn from ``np.random.default_rng([domain, split, seed, i])``, so the seed fixes the
content, splits differ, and a smaller size is a prefix of a larger one.

The body and its motion live in `figure_pose`, each domain's looks in `figure_domains` (both beside this module);
this module draws the figures and registers the datasets. How much a domain moves:
`transmem.data.stats.persistence_mse`.
"""
from __future__ import annotations

import math
import zlib
from functools import partial
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from transmem.data.base import SPLITS, SequenceData, from_uint8
from transmem.data.factory import Common, dataset
from transmem.data.options import channels_option, int_at_least, name_list, seq_len_and_t_in
from transmem.data.splits import resolve_size
from transmem.data.synthetic.figure_domains import STYLES, Style, background, colours, rgb8
from transmem.data.synthetic.figure_pose import BODY, GAITS, pose

FRAME_SIZE, SEQ_LEN, T_IN = 128, 8, 4
SYNTH_SIZES = {"train": 2000, "valid": 300, "test": 500}
SUPERSAMPLE = 2

# parts: (first joint, second joint, radius key, colour key); the torso and the head are drawn specially
_LIMBS = [
    ("sh", "el", "r_upper_arm", "shirt"),
    ("el", "ha", "r_lower_arm", "sleeve"),
    ("hp", "kn", "r_upper_leg", "trousers"),
    ("kn", "ft", "r_lower_leg", "trousers"),
    ("ft", "toe", "r_lower_leg", "shoes"),
]


def render_sequence(style: Style, rng: np.random.Generator, seq_len: int, frame_size: int,
                    actions: Sequence[str] | None = None) -> np.ndarray:
    """One sequence (seq_len, frame_size, frame_size, 3) uint8 of the style's domain."""
    ss = SUPERSAMPLE
    big = frame_size * ss
    acts = tuple(actions) if actions else style.actions
    action = acts[int(rng.integers(len(acts)))]
    body = {k: v * style.body.get(k, 1.0) * rng.uniform(1 - style.jitter, 1 + style.jitter) for k, v in BODY.items()}
    standing = sum(body[k] for k in ("upper_leg", "lower_leg", "r_lower_leg", "torso", "neck")) + 2 * body["head"]
    body = {k: v / standing for k, v in body.items()}
    arm_mode = "swing"
    if style.perspective:
        arm_mode = str(rng.choice(["swing", "swing", "swing", "swing", "pocket", "phone"]))
    t = np.arange(seq_len, dtype=float)
    amp = rng.uniform(*style.amp_scale)
    joints, speed = pose(action, t, body, rng, amp, rng.uniform(*style.period_scale), arm_mode)
    mid = (seq_len - 1) / 2.0

    camera = {"horizon": rng.uniform(0.25, 0.38), "focal": 1.0, "height": rng.uniform(0.6, 0.75),
              "tile": rng.uniform(0.25, 0.5)}
    if style.perspective:
        # walk on the floor: heading psi (0 = to the right, pi/2 = away from the camera), turning, depth Z
        height0 = rng.uniform(*style.height)  # apparent height at the reference depth 1
        camera["focal"] = height0
        psi0 = rng.uniform(0, 2 * math.pi)
        turn = math.radians(rng.uniform(-4, 4))
        psi = psi0 + turn * (t - mid)
        z_mid = rng.uniform(1.0, 1.4)
        z_near = camera["focal"] * camera["height"] / (0.97 - camera["horizon"])  # soles at 97 % of the frame
        z_mid = max(z_mid, z_near)
        step = speed * rng.uniform(1.0, 1.3)
        # positions by integrating the heading from the middle frame
        xs, zs = np.zeros(seq_len), np.zeros(seq_len)
        for k in range(seq_len):
            tau = np.linspace(mid, k, 9)
            heading = psi0 + turn * (tau - mid)
            xs[k] = step * np.trapezoid(np.cos(heading), tau)
            zs[k] = step * np.trapezoid(np.sin(heading), tau)
        zs = np.maximum(zs + z_mid, 0.92 * z_near)
        x_mid_img = rng.uniform(0.3, 0.7)
        x_world = (x_mid_img - 0.5) * z_mid / camera["focal"] + xs
        scale = camera["focal"] / zs * big
        cx = (0.5 + x_world * camera["focal"] / zs) * big
        ground = (camera["horizon"] + camera["focal"] * camera["height"] / zs) * big
    else:
        height_px = rng.uniform(*style.height) * big
        scale = np.full(seq_len, height_px)
        if action in GAITS or action == "box":
            psi = np.full(seq_len, 0.0 if rng.random() < 0.5 else math.pi)
        else:
            psi = np.full(seq_len, -math.pi / 2 + rng.uniform(-0.15, 0.15))
        x_mid = rng.uniform(0.3, 0.7) * big
        cx = x_mid + np.cos(psi) * speed * height_px * (t - mid)
        ground = np.full(seq_len, rng.uniform(0.82, 0.95) * big)
        if style.background == "gradient":
            ground = np.full(seq_len, rng.uniform(0.8, 0.93) * big)

    backdrop = background(style, rng, frame_size, camera)
    palette = colours(style, rng, float(backdrop.mean()))
    base = Image.fromarray((backdrop * 255.0 + 0.5).astype(np.uint8), "RGB")
    base = base.resize((big, big), Image.Resampling.BILINEAR)
    cos, sin = np.cos(psi), np.sin(psi)

    # image x, image y and depth (larger = farther) of every joint in every frame, as plain floats
    projected: dict[str, list[tuple[float, float, float]]] = {}
    for key, p in joints.items():
        s_, l_, y_ = p[:, 0], p[:, 1], p[:, 2]
        xyd = np.stack([cx + scale * (s_ * cos + l_ * sin), ground - scale * y_, s_ * sin - l_ * cos], axis=-1)
        projected[key] = [tuple(v) for v in xyd.tolist()]
    fills = {key: rgb8(c) for key, c in palette.items()}

    def project(key: str, k: int) -> tuple[float, float, float]:
        return projected[key][k]

    frames = np.empty((seq_len, frame_size, frame_size, 3), dtype=np.uint8)
    for k in range(seq_len):
        img = base.copy()
        draw = ImageDraw.Draw(img)
        parts = []
        for side in ("r", "l"):
            for a, bb, rkey, ckey in _LIMBS:
                p0, p1 = project(f"{a}_{side}", k), project(f"{bb}_{side}", k)
                parts.append(((p0[2] + p1[2]) / 2, "limb", p0, p1, body[rkey] * scale[k], fills[ckey]))
        pel, nk, hd = project("pelvis", k), project("neck", k), project("head", k)
        parts.append((0.0, "torso", pel, nk, body["r_torso"] * scale[k], fills["shirt"]))
        parts.append((-1e-3, "head", hd, hd, body["head"] * scale[k], fills["skin"]))
        for depth, kind, p0, p1, r, fill in sorted(parts, key=lambda q: -q[0]):
            if kind == "limb":
                draw.line([p0[:2], p1[:2]], fill=fill, width=max(1, int(round(2 * r))))
                for p in (p0, p1):
                    draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=fill)
            elif kind == "torso":
                dx, dy = p1[0] - p0[0], p1[1] - p0[1]
                n = math.hypot(dx, dy) or 1.0
                ux, uy = -dy / n, dx / n
                lateral = abs(sin[k])
                ws = max(r, (body["shoulder"] * lateral + 0.6 * body["r_upper_arm"]) * scale[k])
                wh = max(0.9 * r, (body["hip"] * lateral + 0.8 * body["r_upper_leg"]) * scale[k])
                draw.polygon([(p1[0] + ux * ws, p1[1] + uy * ws), (p1[0] - ux * ws, p1[1] - uy * ws),
                              (p0[0] - ux * wh, p0[1] - uy * wh), (p0[0] + ux * wh, p0[1] + uy * wh)], fill=fill)
                draw.line([p0[:2], p1[:2]], fill=fill, width=max(1, int(round(2 * r))))
                for p, w in ((p0, wh), (p1, r)):
                    draw.ellipse([p[0] - w, p[1] - w, p[0] + w, p[1] + w], fill=fill)
            else:
                rx, ry = 0.9 * r, 1.1 * r
                draw.ellipse([p0[0] - rx, p0[1] - ry, p0[0] + rx, p0[1] + ry], fill=fill)
                draw.chord([p0[0] - rx, p0[1] - ry, p0[0] + rx, p0[1] + ry], 180, 360, fill=fills["hair"])
        frames[k] = np.asarray(img.reduce(ss))  # box filter: anti-aliasing
    return frames


def _domain_key(name: str) -> int:
    return zlib.crc32(name.encode())


def generate(name: str, split: str, n: int, *, seed: int = 0, frame_size: int = FRAME_SIZE, seq_len: int = SEQ_LEN,
             channels: int | None = None, actions: Sequence[str] | None = None) -> np.ndarray:
    """n sequences of a synthetic domain as uint8 (n, seq_len, C, frame_size, frame_size)."""
    style = STYLES[name]
    channels = (3 if style.rgb else 1) if channels is None else channels
    out = np.empty((n, seq_len, channels, frame_size, frame_size), dtype=np.uint8)
    key = [_domain_key(name), SPLITS.index(split), int(seed)]
    for i in range(n):
        seq = render_sequence(style, np.random.default_rng(key + [i]), seq_len, frame_size, actions)
        if channels == 1:
            if style.rgb:  # luminance, ITU-R 601
                seq = (seq.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)
            else:
                seq = seq[..., 0]
            out[i, :, 0] = seq
        else:
            out[i] = seq.transpose(0, 3, 1, 2)
    return out


def figures_split(
    style: Style, split: str, common: Common, *, frame_size: int = FRAME_SIZE, seq_len: int = SEQ_LEN,
    t_in: int = T_IN, channels: int | None = None, actions: str | Sequence[str] | None = None,
) -> SequenceData:
    """One split of a domain's generated figures; see the module docstring."""
    name = style.name
    fs = int_at_least(frame_size, "frame_size", name, 16)
    sl, ti = seq_len_and_t_in(seq_len, t_in, name)
    ch = (3 if style.rgb else 1) if channels is None else channels_option(channels, name)
    acts = name_list(actions, name, "actions", style.actions)
    n = resolve_size(split, common.size, common.fraction, SYNTH_SIZES[split])
    frames_u8 = generate(name, split, n, seed=common.seed, frame_size=fs, seq_len=sl, channels=ch, actions=acts)
    frames = from_uint8(frames_u8)
    del frames_u8
    info = {"generator": name, "frame_size": fs, "actions": list(acts or style.actions), "uint8_exact": True}
    return SequenceData(name, split, frames, ti, sl - ti, info)


for _style in STYLES.values():
    dataset(_style.name, _style.description)(partial(figures_split, _style))
del _style
