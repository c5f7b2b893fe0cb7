"""The learning rate as a function of the step alone (so a resumed run needs no scheduler state).

constant: lr after the warm-up. cosine: after a linear warm-up over `warmup_fraction` of training,

    lr_t = lr_min + (lr - lr_min) * (1 + cos(pi * (t - W) / (T - W))) / 2,   W = warm-up steps, T = iterations,

so the last step trains at (almost) lr_min. The warm-up rises linearly, lr * (t + 1) / W for t < W.
"""
from __future__ import annotations

import math

from transmem.registry import check_choice

LR_SCHEDULES = ("constant", "cosine")


def learning_rate(step: int, *, lr: float, iterations: int, schedule: str = "constant",
                  warmup_fraction: float = 0.0, lr_min: float = 0.0) -> float:
    check_choice("lr_schedule", schedule, LR_SCHEDULES)
    warmup = int(round(warmup_fraction * iterations))
    if step < warmup:
        return lr * (step + 1) / warmup
    if schedule == "constant" or iterations <= warmup:
        return lr
    progress = min(1.0, (step - warmup) / (iterations - warmup))
    return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
