"""Saving and loading networks as self-describing checkpoints (weights + the NetConfig that builds them)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from transmem.models.network import NetConfig, PredictiveNet
from transmem.checkpoint import load_checkpoint, save_checkpoint, split_prefix, with_prefix


def save_model(path: str | Path, net: PredictiveNet, meta: dict[str, Any] | None = None, extra_tensors=None) -> None:
    tensors = with_prefix(net.state_dict(), "model/") | (extra_tensors or {})
    save_checkpoint(path, tensors, {"net": net.config.to_dict(), **(meta or {})})


def load_model(path: str | Path) -> tuple[PredictiveNet, dict[str, Any], dict]:
    """(network in eval mode, meta, all tensors of the file). Errors name the file."""
    tensors, meta = load_checkpoint(path)
    if "net" not in meta:
        raise ValueError(f"checkpoint {path} holds no network description ('net'); it is not a model checkpoint")
    try:
        net = PredictiveNet(NetConfig.from_dict(meta["net"]))
        weights = split_prefix(tensors, "model/")
        missing, unexpected = net.load_state_dict(weights, strict=False)
    except (ValueError, KeyError, RuntimeError, TypeError) as err:
        raise ValueError(f"checkpoint {path} does not describe a valid network: {str(err).splitlines()[0]}") from None
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {path} does not match its own network description (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}); the file was altered or written by another tool"
        )
    net.eval()
    return net, meta, tensors
