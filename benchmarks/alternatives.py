#!/usr/bin/env python
"""Implementation alternatives that were tried for speed and not kept, each timed against the shipped code.

Each in-process alternative builds the shipped model and the altered one from the same seed, alternates their
training steps (memory-bank collect + forward + Eq. 6 loss + backward + Adam, as benchmarks/speed.py times them)
and prints the median step times and their ratio: under 1 means the alternative is faster. The allocator
alternative changes the whole process, so it alternates child processes instead.

    channels_last        weights, states and inputs in channels-last memory format (oneDNN's NHWC kernels; a
                         forward 5x5 convolution alone runs about 10 % faster that way here)
    pointwise_matmul     every 1x1 convolution (TMU distillers, PredRNN/MIM W_1x1, the output head) as a broadcast
                         matrix product (faster alone at these shapes)
    split_transfer_conv  a TMU cell's transfer gates from a convolution of their own instead of extra output
                         channels of the gate convolution (the wide convolution's backward pass is slower per FLOP)
    keep_freed_memory    glibc serves large blocks from the heap and keeps freed memory (MALLOC_MMAP_MAX_=0,
                         MALLOC_TRIM_THRESHOLD_ high): no page faults for the M-fold tensors after the first step
    stacked_distill_loss the distillation loss over the stacked (B, T, M, C, h, w) distilled memories, as before
                         it read the rollout's steps (the one alternative here that was the shipped code)
    sigmoid_tanh         tanh computed as 2 sigmoid(2x) - 1 (this CPU's tanh kernel is about 5x slower than its
                         sigmoid at these sizes)
    compile_cells        each cell's step through torch.compile (fused element-wise gate arithmetic; the warm-up
                         step pays the compilation)

    .venv/bin/python benchmarks/alternatives.py --backbone convlstm --sources 8 --repeats 3
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402 (the benchmark's model builder, data and timed step)


# ---------------------------------------------------------------------------------------------------------------
# the alterations, applied to one built model (and its memory bank)
# ---------------------------------------------------------------------------------------------------------------
def to_channels_last(torch, net, bank) -> None:
    from transmem.models.cells.base import RecurrentCell

    cl = torch.channels_last
    for cell in (m for m in net.modules() if isinstance(m, RecurrentCell)):
        input_gates, init_state = cell.input_gates, cell.init_state
        cell.input_gates = lambda x, h, f=input_gates: f(x.contiguous(memory_format=cl), h.contiguous(memory_format=cl))
        cell.init_state = lambda *a, f=init_state, **k: {n: v.contiguous(memory_format=cl) for n, v in f(*a, **k).items()}
    net.to(memory_format=cl)


def matmul_1x1(torch, x, weight, bias=None):
    """F.conv2d(x, weight, bias) for a 1x1 weight as one broadcast matrix product over the batch."""
    b, c, h, w = x.shape
    y = torch.matmul(weight.view(weight.shape[0], c), x.reshape(b, c, h * w))
    return (y if bias is None else y + bias.view(-1, 1)).view(b, -1, h, w)


def pointwise_as_matmul(torch, net, bank) -> None:
    modules = list(net.modules()) + (list(bank.modules()) if bank is not None else [])
    for conv in (m for m in modules if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)):
        conv.forward = types.MethodType(lambda self, x: matmul_1x1(torch, x, self.weight, self.bias), conv)


def split_transfer_conv(torch, net, bank) -> None:
    from torch import nn

    from transmem.models.cells.base import RecurrentCell

    class Split(nn.Module):
        """The fused convolution's weights, split by output channel: the same function as two kernel calls."""

        def __init__(self, fused: nn.Conv2d, backbone_channels: int):
            super().__init__()
            k, cin, n = fused.kernel_size[0], fused.in_channels, backbone_channels
            self.backbone = nn.Conv2d(cin, n, k, padding=k // 2)
            self.transfer = nn.Conv2d(cin, fused.out_channels - n, k, padding=k // 2)
            with torch.no_grad():
                for part, rows in ((self.backbone, slice(0, n)), (self.transfer, slice(n, None))):
                    part.weight.copy_(fused.weight[rows])
                    part.bias.copy_(fused.bias[rows])

        def forward(self, x):
            return torch.cat([self.backbone(x), self.transfer(x)], dim=1)

    for cell in (m for m in net.modules() if isinstance(m, RecurrentCell) and m.is_tmu):
        cell.gate_conv = Split(cell.gate_conv, cell.n_gates * cell.spec.hidden)


def stacked_distill_loss(torch, net, bank) -> None:
    """The rollout hands the loss stacked (B, T, M, C, h, w) tensors (as before the loss read the steps)."""
    forward = net.forward

    def stacked(*args, **kwargs):
        out = forward(*args, **kwargs)
        return out._replace(distilled={k: out.distilled[k] for k in out.distilled})

    net.forward = stacked


@functools.cache
def sigmoid_tanh(torch):
    """tanh(x) = 2 sigmoid(2x) - 1, with tanh's own backward: this CPU's tanh kernel is about 5x slower than its
    sigmoid at the cells' sizes (absolute error under 2e-7)."""

    class SigmoidTanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = (x * 2).sigmoid_().mul_(2).sub_(1)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * (1 - y * y)

    return SigmoidTanh.apply


@contextlib.contextmanager
def tanh_from_sigmoid(torch):
    """While active, torch.tanh (which the cells call) is `sigmoid_tanh`."""
    shipped = torch.tanh
    torch.tanh = sigmoid_tanh(torch)
    try:
        yield
    finally:
        torch.tanh = shipped


@contextlib.contextmanager
def distiller_product(torch):
    """While active, the TMU's distiller (tmu.distill, and tmu_autograd.distill_with_stats in training, whose 1x1
    convolution is not a module call) uses the matrix product too."""
    from transmem.models import tmu, tmu_autograd

    functional = tmu.F
    places = [(tmu, "distill"), (tmu_autograd, "distill_with_stats")]
    shipped = [getattr(module, name) for module, name in places]

    def via_matmul(distill):
        def product(c_tilde, weight, *rest):
            conv2d = functional.conv2d
            functional.conv2d = lambda x, w, *a, **k: matmul_1x1(torch, x, w)
            try:
                return distill(c_tilde, weight, *rest)
            finally:
                functional.conv2d = conv2d

        return product

    for (module, name), distill in zip(places, shipped):
        setattr(module, name, via_matmul(distill))
    try:
        yield
    finally:
        for (module, name), distill in zip(places, shipped):
            setattr(module, name, distill)


def compile_cells(torch, net, bank) -> None:
    """Every recurrent cell's step through torch.compile (inductor fuses the element-wise gate arithmetic, forward
    and backward, around the convolutions); the first steps pay the compilation, about a minute here."""
    from transmem.models.cells.base import RecurrentCell

    for cell in (m for m in net.modules() if isinstance(m, RecurrentCell)):
        cell.forward = torch.compile(cell.forward, dynamic=False)


# An alternative alters the built model (ALTER), patches a function during the altered model's steps (DURING),
# or both; keep_freed_memory changes the whole process instead.
ALTER = {"channels_last": to_channels_last, "pointwise_matmul": pointwise_as_matmul,
         "split_transfer_conv": split_transfer_conv, "stacked_distill_loss": stacked_distill_loss,
         "compile_cells": compile_cells}
DURING = {"pointwise_matmul": distiller_product, "sigmoid_tanh": tanh_from_sigmoid}
IN_PROCESS = tuple(dict.fromkeys([*ALTER, *DURING]))
ALTERNATIVES = (*IN_PROCESS, "keep_freed_memory")


def during_steps(name: str, torch):
    """The context the altered model's steps run in (nothing for a build-time alteration)."""
    return DURING[name](torch) if name in DURING else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------------------------
def job_for(args) -> dict:
    hidden, batch = speed.CONFIGS[args.config]["hidden"], speed.CONFIGS[args.config]["batch"]
    if args.hidden:
        hidden = args.hidden
    return dict(backbone=args.backbone, hidden=list(hidden), batch=args.batch or batch, m=args.sources,
                released=args.released, steps=4)


def paired_in_process(name: str, args) -> dict:
    torch = speed._setup_torch(args.threads)
    job = job_for(args)
    _, shipped_step, _ = speed.make_train_step(torch, job)
    built = speed.build

    def build_altered(torch_, job_):
        cfg, net, bank = built(torch_, job_)
        if name in ALTER:
            ALTER[name](torch_, net, bank)
        return cfg, net, bank

    speed.build = build_altered
    try:
        _, altered_step, _ = speed.make_train_step(torch, job)
    finally:
        speed.build = built

    def altered(record=False):
        with during_steps(name, torch):
            return altered_step(record)

    shipped_step(False)
    altered()
    shipped, alt = [], []
    for _ in range(args.repeats):
        shipped.append(shipped_step(False))
        alt.append(altered())
    return {"shipped_s": shipped, "alternative_s": alt}


def allocator_in_children(args) -> dict:
    """Child processes of benchmarks/speed.py's training job, alternately with glibc's defaults and with freed
    memory kept; each child times --repeats steps after one warm-up step."""
    job = {**job_for(args), "kind": "train", "warmup": 1, "steps": args.repeats, "threads": args.threads,
           "no_probe": True}
    keep = {**os.environ, "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**40)}
    shipped, alt = [], []
    for _ in range(args.rounds):
        for env, out in ((dict(os.environ), shipped), (keep, alt)):
            cmd = [sys.executable, str(Path(speed.__file__).resolve()), "--child", json.dumps(job)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"child failed: {proc.stderr.strip().splitlines()[-1:]}")
            out.append(statistics.median(json.loads(lines[-1][len("RESULT "):])["times"]))
    return {"shipped_s": shipped, "alternative_s": alt}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--alternatives", type=speed.name_list, default=list(ALTERNATIVES), help=", ".join(ALTERNATIVES))
    p.add_argument("--backbone", default="convlstm", choices=speed.BACKBONE_NAMES)
    p.add_argument("--sources", type=int, default=8, help="M (0: the backbone alone)")
    p.add_argument("--released", action="store_true", help="the released TMU (layer 0 only)")
    p.add_argument("--config", default="paper", choices=sorted(speed.CONFIGS))
    p.add_argument("--hidden", type=speed.int_list, default=None, help="override the configuration's hidden sizes")
    p.add_argument("--batch", type=int, default=None, help="override the configuration's batch")
    p.add_argument("--repeats", type=int, default=3, help="timed steps of each model (in-process alternatives)")
    p.add_argument("--rounds", type=int, default=2, help="child processes of each kind (keep_freed_memory)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    unknown = [a for a in args.alternatives if a not in ALTERNATIVES]
    if unknown:
        raise SystemExit(f"unknown alternative(s) {unknown}; choose from {', '.join(ALTERNATIVES)}")
    print(f"{args.backbone} M={args.sources}{' released' if args.released else ''}, {args.config} configuration")
    print(f"{'alternative':<20} {'shipped s':>9} {'alternative s':>13} {'ratio':>6}")
    results = {"setup": {k: v for k, v in vars(args).items() if k != "out"}, "rows": {}}
    for name in args.alternatives:
        res = allocator_in_children(args) if name == "keep_freed_memory" else paired_in_process(name, args)
        a, b = statistics.median(res["shipped_s"]), statistics.median(res["alternative_s"])
        res["ratio"] = b / a
        results["rows"][name] = res
        print(f"{name:<20} {a:>9.3f} {b:>13.3f} {b / a:>6.3f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
