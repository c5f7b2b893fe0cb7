"""Pictures of what a model does: prediction strips (like the paper's Fig. 3) and transfer-gate maps over time.

Library functions, so the command line (demo, gates) and the study scripts draw the same pictures.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from transmem.checkpoint import atomic_write
from transmem.data.io import write_strip
from transmem.evaluation.evaluate import dataset_for_model
from transmem.models.io import load_model


def draw_predictions(path: Path, models: list[tuple[str, Path]], n: int = 2) -> None:
    """Like the paper's Fig. 3: for n test sequences, the inputs, the truth and each model's prediction.

    models: (label, best.safetensors) pairs trained on the same dataset."""
    strips, labels = [], []
    nets = [(label, load_model(checkpoint)) for label, checkpoint in models]
    data = dataset_for_model(nets[0][1][1], "test", size=n)
    clips = torch.from_numpy(data.frames[:n, : data.t_in + data.t_out])
    preds = {label: net.predict(clips[:, : data.t_in], data.t_out).clamp(0, 1).numpy() for label, (net, _, _) in nets}
    for i in range(n):
        strips += [clips[i, : data.t_in].numpy(), clips[i, data.t_in :].numpy()]
        labels += [f"#{i} input", "truth"]
        for label in preds:
            strips.append(preds[label][i])
            labels.append(label)
    write_strip(path, strips, row_labels=labels, scale=2)


def draw_gate_maps(path: Path, frames: np.ndarray, maps: dict[int, np.ndarray], names: list[str]) -> None:
    """Rows: the frames the steps predict, then one row per (layer, source) of channel-averaged gate maps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("frames", None)] + [(f"L{k} {n[:12]}", (k, m)) for k in sorted(maps) for m, n in enumerate(names)]
    steps = frames.shape[0]
    fig, axes = plt.subplots(len(rows), steps, figsize=(steps * 0.9, len(rows) * 0.95), squeeze=False)
    for r, (label, key) in enumerate(rows):
        for t in range(steps):
            ax = axes[r, t]
            if key is None:
                img = frames[t].transpose(1, 2, 0)
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(maps[key[0]][t, key[1]], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(label, fontsize=6)
            if r == 0:
                ax.set_title(f"t={t + 2}", fontsize=6)
    fig.tight_layout(pad=0.2)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80, format="png"))
    plt.close(fig)


# The usual reflectivity palette of weather-radar displays (US NWS), one colour per 5 dBZ from 5 dBZ; below 5 white.
RADAR_COLOURS = ("#04e9e7", "#019ff4", "#0300f4", "#02fd02", "#01c501", "#008e00", "#fdf802", "#e5bc00", "#fd9500",
                 "#fd0000", "#d40000", "#bc0000", "#f800fd", "#9854c6")


def radar_rgb(dbz: np.ndarray) -> np.ndarray:
    """Reflectivity (..., H, W) in dBZ -> RGB (..., 3, H, W) on [0, 1] in the radar palette (5-dBZ bands)."""
    palette = np.array([[1.0, 1.0, 1.0]] + [[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in RADAR_COLOURS])
    dbz = np.nan_to_num(np.asarray(dbz, dtype=np.float64), nan=-100.0, neginf=-100.0, posinf=100.0)  # no echo: white
    band = np.clip(np.floor((dbz - 5.0) / 5.0).astype(np.int64) + 1, 0, len(palette) - 1)
    return np.moveaxis(palette[band], -1, -3)
