#!/usr/bin/env python
"""The paper's Table 1 runtime and parameter columns, measured here: a training step (s/batch) and a prediction
(ms/seq) for each transfer method on the flying-digits setting at the paper's configuration, beside the paper's
numbers (one TITAN RTX GPU).

All methods are built in one process with randomly initialised sources (timing does not depend on what the
weights are) and measured in rounds: one training step of every method, then one prediction of every method,
repeated; the medians and the ratios to the finetuned ConvLSTM row are taken over the same rounds, so they see the
same machine conditions. A training step is what the trainer runs: the method's loss on a 20-frame clip (10 -> 10)
with a scheduled-sampling mask (ground truth with probability 0.5 at each output step), backward, Adam. A
prediction is `predictor().predict` (10 -> 10) on a batch, whatever the method keeps at test time (ART keeps its
sources). Parameter counts: everything the method holds in training (target, adapters, frozen sources) and the
test-time predictor.

    .venv/bin/python benchmarks/methods.py --repeats 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402 (configurations, clips, the scheduled-sampling mask, torch set-up)


@dataclass(frozen=True)
class Row:
    """One row of the paper's Table 1 (flying digits, 3-digit target; `paper_*` None where the paper has none)."""

    label: str
    method: str
    n_sources: int
    paper_train_s: float | None
    paper_test_ms: float | None
    paper_params_m: tuple[float, float] | None  # (train, test), millions
    model: dict = field(default_factory=dict)  # ModelConfig overrides


ROWS = (
    Row("ConvLSTM (scratch)", "scratch", 0, 0.35, 16.3, (3.0, 3.0)),
    Row("finetune, 1 source", "finetune", 1, 0.35, 16.3, (3.0, 3.0)),
    Row("L2SP, 1 source", "l2sp", 1, 0.39, 16.3, (3.0, 3.0)),
    Row("Knowledge Flow, 2 sources", "knowledge-flow", 2, 0.54, 21.7, (10.1, 4.1)),
    Row("ART, 2 sources", "art", 2, 0.73, 25.3, (10.1, 10.1)),
    Row("memory transfer, 2 sources", "memory-transfer", 2, 0.43, 17.7, (9.5, 3.6)),  # the released (layer-0) TMU
    Row("memory transfer, TMU in every layer", "memory-transfer", 2, None, None, None, {"released": False}),
)
REFERENCE = "finetune, 1 source"  # ratios are to this row, as the paper's finetuned ConvLSTM


def reference_index(rows: tuple[Row, ...]) -> int:
    """The row ratios are taken against: REFERENCE when it is measured, else the first row."""
    labels = [r.label for r in rows]
    return labels.index(REFERENCE) if REFERENCE in labels else 0


def build(torch, row: Row, *, backbone: str, hidden: list[int], batch: int):
    from transmem.models import NetConfig, PredictiveNet
    from transmem.models.zoo import Source
    from transmem.registry import METHODS
    from transmem.training.config import ModelConfig, TrainConfig

    model = ModelConfig(backbone=backbone, hidden=list(hidden), patch_size=speed.PATCH, kernel_size=speed.KERNEL,
                        **row.model)
    config = TrainConfig(method=row.method, model=model, batch_size=batch)
    source_cfg = NetConfig(backbone=backbone, frame_size=(speed.FRAME, speed.FRAME), patch_size=speed.PATCH,
                           hidden=tuple(hidden), kernel_size=speed.KERNEL)
    torch.manual_seed(0)
    sources = []
    for i in range(row.n_sources):
        net = PredictiveNet(source_cfg).eval()
        sources.append(Source(name=f"random-{i}", path=Path(f"random-{i}"), net=net, card={}))
    return METHODS.get(row.method)(config=config, frame_channels=1, frame_size=(speed.FRAME, speed.FRAME),
                                   sources=sources)


def measure(torch, rows: tuple[Row, ...], *, backbone: str, hidden: list[int], batch: int, repeats: int) -> list[dict]:
    methods = [build(torch, row, backbone=backbone, hidden=hidden, batch=batch) for row in rows]
    optimizers = [torch.optim.Adam(m.trainable_parameters(), lr=1e-3) for m in methods]
    data, _ = speed.clips(torch, 1, batch, seed=1)
    frames, mask = data[0], speed.sampling_mask(torch, batch, seed=2)
    frames_in = frames[:, : speed.T_IN]

    def train_step(method, optimizer) -> float:
        method.train()
        if hasattr(method, "set_progress"):  # Knowledge Flow's dependency penalty follows training progress
            method.set_progress(0.5)
        t0 = time.perf_counter()
        loss, _ = method(frames, mask=mask, t_in=speed.T_IN)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - t0

    def predict(method) -> float:
        t0 = time.perf_counter()
        method.predictor().predict(frames_in, horizon=speed.SEQ_LEN - speed.T_IN)
        return time.perf_counter() - t0

    train_s: list[list[float]] = [[] for _ in rows]
    test_s: list[list[float]] = [[] for _ in rows]
    for method, optimizer in zip(methods, optimizers):  # warm-up
        train_step(method, optimizer)
        predict(method)
    for _ in range(repeats):
        for i, (method, optimizer) in enumerate(zip(methods, optimizers)):
            train_s[i].append(train_step(method, optimizer))
        for i, method in enumerate(methods):
            test_s[i].append(predict(method))
    ref = reference_index(rows)
    out = []
    for i, (row, method) in enumerate(zip(rows, methods)):
        out.append({
            "label": row.label, "method": row.method, "sources": row.n_sources, "model": row.model,
            "train_s": train_s[i], "test_s": test_s[i],
            "train_s_median": statistics.median(train_s[i]),
            "test_ms_per_seq": 1000 * statistics.median(test_s[i]) / batch,
            "train_ratio": statistics.median(a / b for a, b in zip(train_s[i], train_s[ref])),
            "test_ratio": statistics.median(a / b for a, b in zip(test_s[i], test_s[ref])),
            "params_train": sum(p.numel() for p in method.parameters()),
            "params_test": sum(p.numel() for p in method.predictor().parameters()),
            "paper_train_s": row.paper_train_s, "paper_test_ms": row.paper_test_ms,
            "paper_params_m": row.paper_params_m,
        })
    return out


def print_table(rows: list[dict], reference: dict) -> None:
    def paper_ratio(row, key):
        return row[key] / reference[key] if row[key] and reference[key] else None

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    print(f"{'method':<36} {'train s':>8} {'x ref':>6} {'paper':>6} {'x ref':>6} {'test ms/seq':>11} {'x ref':>6} "
          f"{'paper':>6} {'x ref':>6} {'params train/test':>18} {'paper':>11}")
    for r in rows:
        paper_params = "-" if r["paper_params_m"] is None else "{:.1f}M/{:.1f}M".format(*r["paper_params_m"])
        print(f"{r['label']:<36} {r['train_s_median']:>8.3f} {r['train_ratio']:>6.2f} {fmt(r['paper_train_s'], '.2f'):>6} "
              f"{fmt(paper_ratio(r, 'paper_train_s'), '.2f'):>6} {r['test_ms_per_seq']:>11.1f} {r['test_ratio']:>6.2f} "
              f"{fmt(r['paper_test_ms'], '.1f'):>6} {fmt(paper_ratio(r, 'paper_test_ms'), '.2f'):>6} "
              f"{r['params_train'] / 1e6:>8.2f}M/{r['params_test'] / 1e6:.2f}M {paper_params:>11}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="convlstm", help="the paper's Table 1 is ConvLSTM")
    p.add_argument("--hidden", type=speed.int_list, default=list(speed.CONFIGS["paper"]["hidden"]))
    p.add_argument("--batch", type=int, default=speed.CONFIGS["paper"]["batch"])
    p.add_argument("--repeats", type=int, default=5, help="rounds (every method once per round)")
    p.add_argument("--methods", type=speed.name_list, default=None,
                   help="only these rows, by method name (default: all of Table 1's rows)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "methods.json"))
    args = p.parse_args(argv)
    rows = tuple(r for r in ROWS if args.methods is None or r.method in args.methods)
    if not rows:
        raise SystemExit(f"no Table 1 row uses the method(s) {args.methods}; rows use: "
                         f"{', '.join(dict.fromkeys(r.method for r in ROWS))}")
    torch = speed._setup_torch(args.threads)
    started = time.time()
    results = measure(torch, rows, backbone=args.backbone, hidden=args.hidden, batch=args.batch, repeats=args.repeats)
    reference = results[reference_index(rows)]
    print(f"{args.backbone} {len(args.hidden)} x {args.hidden[0]}, batch {args.batch}, {args.repeats} rounds, "
          f"{torch.get_num_threads()} threads; x ref: against '{reference['label']}' (paper: on a TITAN RTX GPU)")
    print_table(results, reference)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "threads": torch.get_num_threads(), "torch": torch.__version__,
                               "elapsed_s": time.time() - started, "rows": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
