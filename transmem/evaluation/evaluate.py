"""Score a network's predictions on a split: per-frame MSE / MAE / SSIM / PSNR, and CSI / POD / FAR in dBZ for
radar data (when the dataset's info carries its pixel-to-dBZ mapping), in the thuml convention of the paper.

A stochastic predictor (the savp backbone) is scored on one sample from its prior, drawn from a generator seeded
by `seed`, so that validation and a later `transmem evaluate` see the same sample; best-of-N is
evaluation/samples.py."""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from transmem.data import load_dataset
from transmem.data.base import SequenceData
from transmem.data.radar_scale import THRESHOLDS
from transmem.metrics import Contingency, MetricAccumulator, to_dbz
from transmem.models.network import PredictiveNet


@torch.inference_mode()
def evaluate_model(
    net: PredictiveNet,
    data: SequenceData,
    *,
    batch_size: int = 16,
    max_batches: int | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    device: torch.device | str = "cpu",
    shard: tuple[int, int] = (0, 1),
    seed: int = 0,
) -> dict[str, Any]:
    """Predict the t_out frames after t_in inputs for every sequence (the model alone) and score them.

    `net` is anything with `predict(frames, horizon=...)`: a network, or a baseline (evaluation/nowcast.py).

    shard=(rank, world) scores every world-th batch in each of `world` processes; the sums are then reduced.
    """
    net.eval()
    t_in, t_out = data.t_in, data.t_out
    scores = MetricAccumulator(n_frames=t_out)
    dbz = data.info.get("dbz")
    table = Contingency.zeros(thresholds, t_out) if dbz else None
    seconds, count = 0.0, 0
    noise = {"generator": seeded_generator(seed, device)} if getattr(net, "stochastic", False) else {}
    for b, start in enumerate(range(0, len(data), batch_size)):
        if max_batches is not None and b >= max_batches:
            break
        if b % shard[1] != shard[0]:
            continue
        clip = torch.from_numpy(data.frames[start : start + batch_size, : t_in + t_out]).to(device)
        tic = time.perf_counter()
        pred = net.predict(clip[:, :t_in], horizon=t_out, **noise)
        seconds += time.perf_counter() - tic
        count += len(clip)
        truth = clip[:, t_in:]
        pred, truth = pred.float().cpu(), truth.float().cpu()
        scores.update(pred, truth)
        if table is not None:
            table.update(to_dbz(pred.clamp(0, 1), dbz["scale"], dbz["offset"]), to_dbz(truth, dbz["scale"], dbz["offset"]))
    result = scores.all_reduce().result()
    if table is not None:
        result.update(table.all_reduce().summary())
    result["test_ms_per_seq"] = 1000.0 * seconds / max(count, 1)
    return result


def seeded_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """The noise source of a stochastic predictor's samples: the same seed on the same device, the same samples."""
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed))


def dataset_for_model(meta: dict, split: str, *, dataset: str | None = None, size: int | None = None,
                      options: dict | None = None) -> SequenceData:
    """The split a checkpoint should be scored on: its training dataset with the same options and seed (so 'test'
    is the very test set it was validated against), unless `dataset` names another one."""
    trained = meta.get("config", {}).get("data", {})
    name = dataset or trained.get("name")
    if name is None:
        raise ValueError("the checkpoint does not say which dataset it was trained on: pass --dataset")
    options = dict(options or {})
    if dataset is None or dataset == trained.get("name"):
        options = {**trained.get("options", {}), **options}
        options.setdefault("seed", trained.get("seed", 0))
        size = size or trained.get(f"{split}_size")
    return load_dataset(name, split, size=size, **options)
