"""Self-describing checkpoints: one safetensors file holding the tensors and, in its header metadata, a JSON
document with everything else (configs, step, metrics, optimizer hyper-parameters, random states).

Nothing is ever unpickled, so a checkpoint from an untrusted source can at worst fail to load. Files are written to
a temporary name in the same folder, flushed to disk and renamed over the old file, so a crash mid-write leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT = "transmem-checkpoint/1"
META_KEY = "transmem"


def remove_leftover_temporaries(folder: str | Path, name: str = "*") -> list[Path]:
    """Delete the temporary files that an interrupted atomic_write of `name` in `folder` left (a SIGKILL gives no
    chance to clean up). Only one process writes a given file of a run folder, so any such file is stale."""
    removed = []
    for tmp in Path(folder).glob(f".{name}.*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_write(path: str | Path, write) -> None:
    """Call write(tmp_path), then move tmp_path over path (first removing what an interrupted write left)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftover_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)  # mkstemp makes files 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    meta = {"format": FORMAT, **meta}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={META_KEY: json.dumps(meta)}))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta). Any damage gives one ValueError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        meta = json.loads(header[META_KEY])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError, UnicodeDecodeError, RuntimeError) as err:
        raise ValueError(
            f"checkpoint {path} is corrupt, truncated or not a transmem checkpoint ({type(err).__name__}: "
            f"{str(err)[:120]}); use another checkpoint or train again"
        ) from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} has format {meta.get('format')!r}; this transmem reads {FORMAT!r}")
    return tensors, meta


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    n = len(prefix)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}


def with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


# -- optimizer state as tensors + JSON ----------------------------------------------------------------
def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
