"""The source zoo: a folder of pretrained models, one sub-folder each with `model.safetensors` and a model card.

    zoo/
      mnist1-convlstm/
        model.safetensors   weights + network description (see transmem.models.io)
        card.json           backbone, dataset, shapes, patch size, metrics, full training config

A source may be named by its zoo entry or given as a checkpoint file path. `export_to_zoo` turns a training run's
best checkpoint into an entry.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transmem.models.io import load_model
from transmem.models.network import PredictiveNet
from transmem.checkpoint import atomic_write

DEFAULT_ZOO = "zoo"


def zoo_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("TRANSMEM_ZOO", DEFAULT_ZOO))


@dataclass
class Source:
    name: str
    path: Path
    net: PredictiveNet
    card: dict[str, Any]


def resolve_source(ref: str, zoo: str | Path | None = None) -> Path:
    path = Path(ref)
    if path.is_file():
        return path
    if path.is_dir() and (path / "model.safetensors").is_file():
        return path / "model.safetensors"
    entry = zoo_root(zoo) / ref / "model.safetensors"
    if entry.is_file():
        return entry
    known = ", ".join(list_zoo(zoo)) or "none"
    raise FileNotFoundError(
        f"source '{ref}' is neither a checkpoint file nor an entry of the zoo {zoo_root(zoo)} (entries: {known}); "
        "pretrain one with `transmem pretrain` or pass a checkpoint path"
    )


def load_source(ref: str, zoo: str | Path | None = None) -> Source:
    path = resolve_source(ref, zoo)
    net, meta, _ = load_model(path)
    card_file = path.parent / "card.json"
    card = json.loads(card_file.read_text()) if card_file.is_file() else meta.get("card", {})
    name = card.get("name") or (path.parent.name if path.name == "model.safetensors" else path.stem)
    return Source(name=name, path=path, net=net, card=card)


def list_zoo(zoo: str | Path | None = None) -> list[str]:
    root = zoo_root(zoo)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model.safetensors").is_file())


def write_card(folder: Path, card: dict[str, Any]) -> None:
    text = json.dumps(card, indent=2, sort_keys=False)
    atomic_write(folder / "card.json", lambda tmp: Path(tmp).write_text(text))


def export_to_zoo(best: Path, folder: Path, *, name: str, results: dict) -> None:
    """Copy the best checkpoint into the zoo and write its model card."""
    net, meta, _ = load_model(best)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".model.safetensors.tmp"
    shutil.copyfile(best, tmp)
    tmp.replace(folder / "model.safetensors")
    cfg = net.config
    card = {
        "name": name,
        "backbone": cfg.backbone,
        "dataset": results["config"]["data"]["name"],
        "frame_shape": [cfg.frame_channels, *cfg.frame_size],
        "patch_size": cfg.patch_size,
        "hidden": list(cfg.hidden),
        "kernel_size": cfg.kernel_size,
        "state_shape": [cfg.hidden[0], *cfg.state_size],
        "parameters": results["params_test"],
        "metrics": {k: results["test"][k] for k in ("mse", "mae", "ssim", "psnr") if k in results["test"]},
        "best_step": results["best"]["step"],
        "config": results["config"],
    }
    write_card(folder, card)
