"""Which of a zoo's sources to transfer from: three signals per source, side by side (`transmem rank-sources`).

1. zero-shot error: the source predicts the target's validation clips as it is (frames adapted to its channels and
   size and its predictions mapped back, as the memory bank adapts them), scored like any model (MSE per frame);
2. transfer gates: the gate average each source gets after a short memory-transfer run with all of them (Table 5's
   signal, without training to convergence);
3. measured: the test MSE of finetuning from the source, where committed results exist (mean over seeds).

Lower error ranks first; a higher gate average ranks first. `agreement` says how well each signal's ranking agrees
with the measured one (Spearman's rank correlation, scipy), over the sources that have both.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from transmem.data.base import SequenceData
from transmem.evaluation.evaluate import evaluate_model
from transmem.models.memory_bank import adapt_frames, convert_frames
from transmem.models.network import PredictiveNet


class ZeroShot(nn.Module):
    """A source predicting a target's clips: inputs adapted to the source, its predictions mapped back."""

    def __init__(self, source: PredictiveNet, *, channels: int, size: tuple[int, int]):
        super().__init__()
        self.source, self.channels, self.size = source, channels, tuple(size)
        self.stochastic = source.stochastic

    def predict(self, frames: torch.Tensor, *, horizon: int, **noise) -> torch.Tensor:
        pred = self.source.predict(adapt_frames(frames, self.source.config), horizon, **noise)
        return convert_frames(pred, channels=self.channels, size=self.size)  # metrics clip, as for any model


def zero_shot(source: PredictiveNet, data: SequenceData, *, batch_size: int = 16) -> dict:
    """The source's metrics on `data` (a target split), predicting it as it is."""
    c, h, w = data.frame_shape
    return evaluate_model(ZeroShot(source, channels=c, size=(h, w)), data, batch_size=batch_size)


def best_by_zero_shot(sources: list, data: SequenceData, *, batch_size: int = 16) -> tuple[str, dict[str, float]]:
    """The source (a zoo Source) with the lowest zero-shot MSE/frame on `data`, and every source's score: the
    choice of `init_from: auto`. Of the ranking signals it is the cheap one, and on flying digits it put first the
    source that finetuning measured best (docs/results-flying-digits.md; three sources measured, so a hint, not a
    proof). The global RNG is left as it was, so the target's own initialisation is the same as with the source
    named."""
    with torch.random.fork_rng(devices=[]):
        scores = {s.name: zero_shot(s.net, data, batch_size=batch_size)["mse"] for s in sources}
    return min(scores, key=scores.get), scores


@dataclass
class Measured:
    mse: float  # mean test MSE per frame over seeds
    seeds: int


MATCHED = ("data", "model", "iterations")  # a measured result counts only if these equal the ranking's config


def measured_finetune(result_files: Iterable[Path], *, like: dict) -> dict[str, Measured]:
    """Source name -> the mean test MSE of finetuning from it, from result JSON files (a study's results/*.json, a run
    folder's results.json) whose data, model and iterations equal `like`'s (a resolved config as a dict); other
    methods, settings, source counts and JSON files that are not results (no config or test) are skipped."""
    found: dict[str, list[float]] = {}
    for path in result_files:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path} cannot be read as JSON ({e}); leave it out of --results") from e
        config, test = (doc.get("config"), doc.get("test")) if isinstance(doc, dict) else (None, None)
        if not isinstance(config, dict) or not isinstance(test, dict) or "mse" not in test:
            continue
        sources = config.get("sources") or []
        same = all(config.get(k) == like.get(k) for k in MATCHED)
        if config.get("method") == "finetune" and len(sources) == 1 and same:
            found.setdefault(Path(sources[0]).name, []).append(float(test["mse"]))
    return {name: Measured(statistics.fmean(v), len(v)) for name, v in found.items()}


def ranks(values: dict[str, float], *, higher_first: bool = False) -> dict[str, int]:
    """1 = best; ties keep the given order."""
    order = sorted(values, key=lambda k: -values[k] if higher_first else values[k])
    return {name: i + 1 for i, name in enumerate(order)}


def agreement(signal: dict[str, float], measured: dict[str, float], *, higher_first: bool) -> dict:
    """Spearman's rho between a signal and the measured finetune MSE, both oriented so that better ranks first,
    over the sources that have both; None with fewer than two such sources."""
    from scipy.stats import spearmanr

    common = [k for k in signal if k in measured and signal[k] is not None]
    if len(common) < 2:
        return {"rho": None, "n": len(common)}
    a = [-signal[k] if higher_first else signal[k] for k in common]
    b = [measured[k] for k in common]
    rho = spearmanr(a, b).statistic
    return {"rho": None if rho != rho else float(rho), "n": len(common)}  # NaN (a constant signal) -> None


@dataclass
class SourceRow:
    name: str
    zero_shot_mse: float
    gate_mean: float | None = None
    finetune_mse: float | None = None
    finetune_seeds: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def ranking_table(rows: list[SourceRow]) -> tuple[str, dict]:
    """The markdown table (each value with its rank) and the agreement of each signal with the measured one."""
    zs = ranks({r.name: r.zero_shot_mse for r in rows})
    gates = {r.name: r.gate_mean for r in rows if r.gate_mean is not None}
    gr = ranks(gates, higher_first=True)
    measured = {r.name: r.finetune_mse for r in rows if r.finetune_mse is not None}
    fr = ranks(measured)
    lines = ["| source | zero-shot MSE/frame (rank) | gate average (rank) | finetune test MSE (rank, seeds) |",
             "|---|---|---|---|"]
    for r in rows:
        gate = f"{r.gate_mean:.3f} ({gr[r.name]})" if r.name in gr else "-"
        fine = f"{r.finetune_mse:.2f} ({fr[r.name]}, {r.finetune_seeds})" if r.name in fr else "-"
        lines.append(f"| {r.name} | {r.zero_shot_mse:.2f} ({zs[r.name]}) | {gate} | {fine} |")
    agree = {"zero_shot": agreement({r.name: r.zero_shot_mse for r in rows}, measured, higher_first=False),
             "gates": agreement(gates, measured, higher_first=True)}
    return "\n".join(lines), agree


def short_transfer_gates(config, *, sources: list[str], iterations: int, folder: Path, valid: SequenceData,
                         zoo: str | None = None, batch_size: int = 16, progress: bool = True) -> dict[str, float]:
    """Gate averages per source on `valid` after `iterations` steps of memory transfer from all the sources (the
    rest of `config` as given); a finished or stopped run of the same settings in `folder` is continued, not
    retrained (one of other settings is refused by the trainer)."""
    from transmem.evaluation.gates import gate_summary
    from transmem.training.predictor import load_predictor
    from transmem.training.trainer import Trainer

    short = dataclasses.replace(config, method="memory-transfer", sources=list(sources), iterations=iterations,
                                val_every=iterations, checkpoint_every=max(1, iterations // 4), out=str(folder))
    Trainer(short, zoo=zoo, progress=progress).run(resume=True)  # starts afresh where nothing is saved yet
    net, meta = load_predictor(folder / "best.safetensors")
    return gate_summary(net, valid, meta["sources"], batch_size=batch_size)["mean"]


def rank_sources(config, *, sources: list[str], zoo: str | None = None, iterations: int = 200,
                 results: Iterable[Path] = (), folder: Path = Path("runs/rank-sources"), batch_size: int = 16,
                 progress: bool = True) -> tuple[list[SourceRow], str, dict]:
    """The three signals for every source on the target of `config` (its data section): the rows, their markdown
    table and each signal's agreement with the measured finetune results found in `results`."""
    from transmem.data import load_dataset
    from transmem.models.zoo import load_source

    if len(set(sources)) != len(sources):
        raise ValueError("a source is given twice; give each source once")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    d = config.data
    valid = load_dataset(d.name, "valid", size=d.valid_size, seed=d.seed, cache_dir=d.cache_dir, **d.options)
    loaded = [load_source(ref, zoo) for ref in sources]
    measured = measured_finetune(results, like=config.to_dict())
    rows = []
    for ref, source in zip(sources, loaded):
        score = zero_shot(source.net, valid, batch_size=batch_size)
        found = measured.get(source.name) or measured.get(Path(ref).name)
        rows.append(SourceRow(source.name, score["mse"], finetune_mse=found.mse if found else None,
                              finetune_seeds=found.seeds if found else 0))
    if iterations:
        gates = short_transfer_gates(config, sources=sources, iterations=iterations, valid=valid, zoo=zoo,
                                     folder=Path(folder) / f"short-transfer-it{iterations}", batch_size=batch_size,
                                     progress=progress)
        for row in rows:
            row.gate_mean = gates[row.name]
    return rows, *ranking_table(rows)
