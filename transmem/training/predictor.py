"""Test-time models as files: what `evaluate`, `predict` and `gates` load.

Most methods answer at test time with the target network alone, saved by `transmem.models.io.save_model`. A
method whose predictor is more than the network (ART keeps its teachers at test time) is saved whole — its
weights, the frozen sources' weights and their network descriptions — so the file still needs nothing else.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from transmem.checkpoint import load_checkpoint, save_checkpoint, split_prefix, with_prefix
from transmem.models.io import load_model, save_model
from transmem.models.network import NetConfig, PredictiveNet
from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.config import config_from_dict


def save_predictor(path: str | Path, method: nn.Module, meta: dict[str, Any]) -> None:
    predictor = method.predictor()
    if isinstance(predictor, PredictiveNet):
        save_model(path, predictor, meta)
        return
    sources = [{"name": n, "net": s.config.to_dict()} for n, s in zip(method.source_names, method.source_nets)]
    save_checkpoint(path, with_prefix(predictor.state_dict(), "method/"),
                    {**meta, "kind": "method-model", "net": method.net.config.to_dict(), "source_nets": sources})


def load_predictor(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(a module with .predict(frames_in, horizon) in eval mode, meta). meta["net"] describes the target network."""
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != "method-model":
        net, meta, _ = load_model(path)
        return net, meta
    try:
        config = config_from_dict(meta["config"])
        sources = [Source(name=s["name"], path=Path(path), net=PredictiveNet(NetConfig.from_dict(s["net"])), card={})
                   for s in meta["source_nets"]]
        net_cfg = NetConfig.from_dict(meta["net"])
        method = METHODS.get(meta["method"])(config=config, frame_channels=net_cfg.frame_channels,
                                             frame_size=net_cfg.frame_size, sources=sources)
        method.load_state_dict(split_prefix(tensors, "method/"))
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        raise ValueError(f"checkpoint {path} does not describe a valid {meta.get('method')} model: "
                         f"{str(err).splitlines()[0]}") from None
    return method.eval(), meta
