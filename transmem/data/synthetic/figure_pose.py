"""The stick figure's body and motion: a body template in units of the standing height, per-action gait tables,
and `pose`, the joint positions over time of one action (the periodic patterns described in
transmem.data.synthetic.stick_figures)."""
from __future__ import annotations

import math

import numpy as np

ACTIONS = ("walk", "jog", "run", "box", "wave", "clap")

# Body template in units of the standing height (head top to sole ~ 1).
BODY = {
    "head": 0.062,  # radius
    "neck": 0.035,
    "torso": 0.30,
    "upper_arm": 0.165,
    "lower_arm": 0.16,
    "upper_leg": 0.245,
    "lower_leg": 0.245,
    "foot": 0.065,
    "shoulder": 0.085,  # half width
    "hip": 0.05,  # half width
    "r_torso": 0.06,
    "r_upper_arm": 0.026,
    "r_lower_arm": 0.021,
    "r_upper_leg": 0.037,
    "r_lower_leg": 0.029,
}

# Gait tables: period in frames (25 fps video), angles in degrees.
GAITS = {
    "walk": dict(period=(24, 30), hip=(20, 26), knee=(35, 45), shoulder=(15, 25), elbow=(10, 25), lean=(0, 3)),
    "jog": dict(period=(17, 21), hip=(28, 34), knee=(60, 75), shoulder=(25, 35), elbow=(70, 85), lean=(5, 9)),
    "run": dict(period=(13, 16), hip=(36, 44), knee=(85, 100), shoulder=(35, 50), elbow=(85, 95), lean=(10, 16)),
}
IN_PLACE_PERIOD = {"box": (12, 18), "wave": (18, 26), "clap": (10, 16)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _vec(s, l, y) -> np.ndarray:
    s, l, y = np.broadcast_arrays(np.asarray(s, float), np.asarray(l, float), np.asarray(y, float))
    return np.stack([s, l, y], axis=-1)


def _angle_dir(theta: np.ndarray, lateral: float | np.ndarray = 0.0) -> np.ndarray:
    """Unit vectors swung forward by theta (radians) from straight down, with a small lateral component."""
    return _unit(_vec(np.sin(theta), lateral, -np.cos(theta)))


def _rad(lo_hi: tuple[float, float], rng: np.random.Generator, scale: float = 1.0) -> float:
    return math.radians(rng.uniform(*lo_hi) * scale)


def pose(action: str, t: np.ndarray, body: dict[str, float], rng: np.random.Generator, amp: float, period_scale: float,
         arm_mode: str = "swing") -> tuple[dict[str, np.ndarray], float]:
    """Joint positions (T, 3) in body coordinates (forward s, lateral l to the right, up y; soles at y = 0).

    Returns the joints and the forward speed in body heights per frame (0 for actions in place).
    """
    T = len(t)
    b = body
    zero = np.zeros(T)
    speed = 0.0
    j: dict[str, np.ndarray] = {}
    if action in GAITS:
        g = GAITS[action]
        period = rng.uniform(*g["period"]) * period_scale
        phi = rng.uniform(0, 2 * math.pi) + 2 * math.pi * t / period
        a_hip, a_knee = _rad(g["hip"], rng, amp), _rad(g["knee"], rng, amp)
        a_sh, elbow = _rad(g["shoulder"], rng, amp), _rad(g["elbow"], rng)
        lean = _rad(g["lean"], rng)
        speed = 4.0 * (b["upper_leg"] + b["lower_leg"]) * math.sin(a_hip) / period
        spine = _vec(math.sin(lean), 0.0, math.cos(lean)) * np.ones((T, 1))
        for side, tag in ((1.0, "r"), (-1.0, "l")):
            ph = phi + (0.0 if side > 0 else math.pi)
            th_h = a_hip * np.sin(ph)
            th_k = a_knee * np.clip(np.cos(ph + 0.15 * math.pi), 0, None) ** 1.5 + math.radians(4)
            th_s = -a_sh * np.sin(ph)
            th_e = elbow * (1.0 + 0.25 * (0.5 + 0.5 * np.sin(ph)))
            j[f"hp_{tag}"] = _vec(zero, side * b["hip"], zero)
            j[f"kn_{tag}"] = j[f"hp_{tag}"] + b["upper_leg"] * _angle_dir(th_h, side * 0.02)
            j[f"ft_{tag}"] = j[f"kn_{tag}"] + b["lower_leg"] * _angle_dir(th_h - th_k)
            if arm_mode == "pocket" and side > 0:
                th_s, th_e = np.full(T, math.radians(5)), np.full(T, math.radians(15))
            elif arm_mode == "phone" and side > 0:
                th_s, th_e = np.full(T, math.radians(25)), np.full(T, math.radians(150))
            j[f"arm_{tag}"] = np.stack([th_s, th_s + th_e], axis=-1)
    elif action in IN_PLACE_PERIOD:
        period = rng.uniform(*IN_PLACE_PERIOD[action]) * period_scale
        phi = rng.uniform(0, 2 * math.pi) + 2 * math.pi * t / period
        lean = math.radians(6) if action == "box" else 0.0
        spine = _vec(math.sin(lean), 0.0, math.cos(lean)) * np.ones((T, 1))
        stance = math.radians(rng.uniform(6, 12))
        for side, tag in ((1.0, "r"), (-1.0, "l")):
            j[f"hp_{tag}"] = _vec(zero, side * b["hip"], zero)
            if action == "box":  # side view, one foot forward, knees bouncing
                bounce = math.radians(8) * (0.5 + 0.5 * np.sin(2 * phi))
                th_h = side * stance + zero
                j[f"kn_{tag}"] = j[f"hp_{tag}"] + b["upper_leg"] * _angle_dir(th_h + bounce)
                j[f"ft_{tag}"] = j[f"kn_{tag}"] + b["lower_leg"] * _angle_dir(th_h - bounce)
            else:  # facing the camera, feet apart
                leg = _unit(_vec(zero, side * math.sin(stance * 0.7), -math.cos(stance * 0.7)))
                j[f"kn_{tag}"] = j[f"hp_{tag}"] + b["upper_leg"] * leg
                j[f"ft_{tag}"] = j[f"kn_{tag}"] + b["lower_leg"] * leg
    else:
        raise ValueError(f"unknown action '{action}'; choose from {', '.join(ACTIONS)}")

    # stand the figure on its lowest foot
    lowest = np.minimum(j["ft_r"][:, 2], j["ft_l"][:, 2])
    lift = _vec(zero, zero, -lowest + b["r_lower_leg"])
    pelvis = lift
    neck = pelvis + b["torso"] * spine
    j["pelvis"], j["neck"] = pelvis, neck
    j["head"] = neck + (b["neck"] + b["head"]) * spine
    for tag in ("r", "l"):
        for part in ("hp", "kn", "ft"):
            j[f"{part}_{tag}"] = j[f"{part}_{tag}"] + lift

    for side, tag in ((1.0, "r"), (-1.0, "l")):
        shoulder = neck + _vec(zero, side * b["shoulder"], zero) - 0.02 * spine
        j[f"sh_{tag}"] = shoulder
        if action in GAITS:
            th_s, th_f = j.pop(f"arm_{tag}").T
            upper = _angle_dir(th_s, side * 0.08)
            fore = _angle_dir(th_f, side * 0.03)
        elif action == "box":
            ph = phi + (0.0 if side > 0 else math.pi)
            punch = np.clip(np.sin(ph), 0, None) ** 2
            th_s = np.radians(45 + 45 * punch)
            upper = _angle_dir(th_s, side * 0.15)
            fore = _angle_dir(th_s + np.radians(5 + 115 * (1 - punch)), -side * 0.1)
        elif action == "wave":
            beta = np.radians(100 + 60 * (0.5 + 0.5 * np.sin(phi)))
            gamma = beta + np.radians(25 * (0.5 + 0.5 * np.sin(phi - 0.5 * math.pi)))
            upper = _unit(_vec(0.05, side * np.sin(beta), -np.cos(beta)))
            fore = _unit(_vec(0.05, side * np.sin(gamma), -np.cos(gamma)))
        else:  # clap
            closing = 0.15 + 0.85 * (0.5 + 0.5 * np.sin(phi))
            upper = _unit(_vec(0.35 + zero, side * 0.3, -1.0))
            fore = _unit(_vec(0.6 + zero, -side * closing, 0.45))
        j[f"el_{tag}"] = shoulder + b["upper_arm"] * upper
        j[f"ha_{tag}"] = j[f"el_{tag}"] + b["lower_arm"] * fore
        j[f"toe_{tag}"] = j[f"ft_{tag}"] + _vec(b["foot"], 0.0, 0.0)
    return j, speed
