#!/usr/bin/env python
"""How close can a backbone's training step get to the convolution peak? The same step with nothing but its
convolutions, each run alone at its own shape, gives the ceiling.

It records every convolution call of one training step (forward hooks on the Conv2d modules: input shape, weight
shape, whether the input needs a gradient), then times each distinct call three ways with oneDNN's kernels as
autograd calls them: the forward, the backward as the step runs it (input gradient where needed, weight and bias
gradients) and, to show where the time goes, the input gradient alone and the weight gradient alone. A
convolution probe (benchmarks/speed.py's 5x5 128 -> 256, batch 16) runs after every call timed, and the
training step itself is timed in between, so every figure is a ratio to the probe taken under the same machine
conditions. The ceiling is the step's analytic FLOPs (speed.py's count) over the summed convolution times; the
rest of the measured step (element-wise gate arithmetic, concatenation, loss, optimizer) is what lies between
the ceiling and the step.

    .venv/bin/python benchmarks/conv_ceiling.py --backbone convlstm --repeats 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402 (the benchmark's configurations, model builder, timed step, FLOP count and probe)


class Call(NamedTuple):
    """One convolution call of a training step, as far as its kernels' speed is concerned."""

    input: tuple[int, ...]
    weight: tuple[int, ...]
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int
    bias: bool
    needs_input_grad: bool


def record_calls(torch, job: dict) -> tuple[object, Counter]:
    """(config, Counter of the Calls) over one training forward of the backbone in `job`."""
    cfg, net, _ = speed.build(torch, job)
    calls: Counter = Counter()

    def hook(module, inputs, _output):
        x = inputs[0]
        calls[Call(tuple(x.shape), tuple(module.weight.shape), module.stride, module.padding, module.groups,
                   module.bias is not None, bool(x.requires_grad))] += 1

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    data, _ = speed.clips(torch, 1, job["batch"], seed=1)
    net(data[0], t_in=speed.T_IN, mask=speed.sampling_mask(torch, job["batch"], seed=2))
    for h in handles:
        h.remove()
    return cfg, calls


def output_shape(call: Call) -> tuple[int, int, int, int]:
    (b, _, h, w), (c_out, _, kh, kw) = call.input, call.weight
    return (b, c_out, (h + 2 * call.padding[0] - kh) // call.stride[0] + 1,
            (w + 2 * call.padding[1] - kw) // call.stride[1] + 1)


def call_flops(call: Call) -> float:
    b, c_out, h, w = output_shape(call)
    return 2.0 * b * c_out * h * w * call.weight[1] * call.weight[2] * call.weight[3]


def backward_flops(call: Call) -> float:
    """The weight gradient always, the input gradient where the input needs one (each as many FLOPs as forward)."""
    return call_flops(call) * (2 if call.needs_input_grad else 1)


def kernels(torch, call: Call, *, with_tensors: bool = False):
    """The four timed callables for one convolution call: forward, the step's backward, input grad, weight grad
    (and, with `with_tensors`, the input, weight, bias and output gradient they run on)."""
    import torch.nn.functional as F

    x, w = torch.randn(call.input), torch.randn(call.weight) * 0.05
    bias = torch.zeros(call.weight[0]) if call.bias else None
    grad_out = torch.randn(output_shape(call))
    stride, padding = list(call.stride), list(call.padding)

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(
            grad_out, x, w, [call.weight[0]] if call.bias else None, stride, padding, [1, 1], False, [0, 0],
            call.groups, mask)

    fns = {"forward": lambda: F.conv2d(x, w, bias, stride=stride, padding=padding, groups=call.groups),
           "backward": backward([call.needs_input_grad, True, call.bias]),
           "input_grad": backward([True, False, False]),
           "weight_grad": backward([False, True, call.bias])}
    return (fns, (x, w, bias, grad_out)) if with_tensors else fns


def measure(torch, job: dict, repeats: int) -> dict:
    cfg, calls = record_calls(torch, job)
    steps = speed.SEQ_LEN - 1
    counted = sum(n * call_flops(s) for s, n in calls.items()) / (2 * steps * job["batch"])
    if round(counted) != speed.conv_macs(cfg):
        raise RuntimeError(f"the recorded convolutions ({counted:.0f} MACs per step and sample) disagree with "
                           f"benchmarks/speed.py's analytic count ({speed.conv_macs(cfg)}); update conv_macs")
    _, train_step, _ = speed.make_train_step(torch, job)
    train_step(False)
    fns = {s: kernels(torch, s) for s in calls}
    # ratios[what][signature] = per-round (GFLOP/s of the call) / (probe right after it)
    ratios: dict = {k: {s: [] for s in calls} for k in ("forward", "backward", "input_grad", "weight_grad")}
    step_ratios, step_times, probes = [], [], []
    step_flops = speed.flops(cfg, job["batch"], train=True)["total"]
    with torch.inference_mode():
        for s, f in fns.items():  # warm the kernels once
            for fn in f.values():
                fn()
    for _ in range(repeats):
        seconds = train_step(False)
        probe = speed.conv_probe(torch, calls=3)
        step_times.append(seconds)
        probes.append(probe)
        step_ratios.append(step_flops / seconds / 1e9 / probe)
        with torch.inference_mode():
            for s, f in fns.items():
                for what, fn in f.items():
                    seconds = speed._timeit(fn, repeats=1, warmup=0)[0]
                    work = backward_flops(s) if what == "backward" else call_flops(s)
                    ratios[what][s].append(work / seconds / 1e9 / speed.conv_probe(torch, calls=1))
    med = {what: {s: statistics.median(v) for s, v in per.items()} for what, per in ratios.items()}
    # In units of the probe: a call doing W FLOPs at a fraction r of the probe takes W / r probe-FLOPs of time.
    conv_time = sum(n * (call_flops(s) / med["forward"][s] + backward_flops(s) / med["backward"][s])
                    for s, n in calls.items())
    ceiling, step_frac, probe = step_flops / conv_time, statistics.median(step_ratios), statistics.median(probes)
    rows = [{"input": list(s.input), "weight": list(s.weight), "needs_input_grad": s.needs_input_grad,
             "calls_per_step": n, **{what: med[what][s] for what in med}} for s, n in calls.items()]
    return {"backbone": job["backbone"], "hidden": job["hidden"], "batch": job["batch"], "repeats": repeats,
            "probe_gflops": probe, "rows": rows, "step_flops": step_flops, "step_s": statistics.median(step_times),
            "step_frac_probe": step_frac, "conv_only_s": conv_time / probe / 1e9, "ceiling_frac_probe": ceiling,
            "outside_convs_frac": 1.0 - step_frac / ceiling}


def print_report(r: dict) -> None:
    print(f"{r['backbone']} hidden {r['hidden']} batch {r['batch']}: fractions of the convolution probe "
          f"({r['probe_gflops']:.0f} GFLOP/s median), medians of {r['repeats']} rounds")
    print(f"{'input':>18} {'weight':>16} {'grad in':>7} {'calls':>5} {'fwd':>5} {'bwd':>5} {'in-grad':>7} {'w-grad':>6}")
    for row in r["rows"]:
        print(f"{'x'.join(map(str, row['input'])):>18} {'x'.join(map(str, row['weight'])):>16} "
              f"{'yes' if row['needs_input_grad'] else 'no':>7} {row['calls_per_step']:>5} "
              + " ".join(f"{100 * row[k]:>{w}.0f}" for k, w in (("forward", 5), ("backward", 5), ("input_grad", 7),
                                                                ("weight_grad", 6))))
    print(f"ceiling (the step's convolutions alone): {100 * r['ceiling_frac_probe']:.0f} % of the probe, "
          f"{r['conv_only_s']:.2f} s; the measured step: {100 * r['step_frac_probe']:.0f} %, {r['step_s']:.2f} s "
          f"({100 * r['outside_convs_frac']:.0f} % of it outside the convolutions)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="convlstm", choices=speed.BACKBONE_NAMES)
    p.add_argument("--config", default="paper", choices=sorted(speed.CONFIGS))
    p.add_argument("--hidden", type=speed.int_list, default=None, help="override the configuration's layers")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--repeats", type=int, default=5, help="rounds (one step and every kernel once per round)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON (default benchmarks/results/conv-ceiling-BACKBONE.json)")
    args = p.parse_args(argv)
    torch = speed._setup_torch(args.threads)
    base = speed.CONFIGS[args.config]
    job = dict(backbone=args.backbone, hidden=list(args.hidden or base["hidden"]), batch=args.batch or base["batch"],
               m=0, steps=max(1, args.repeats))
    report = measure(torch, job, args.repeats)
    report["threads"] = torch.get_num_threads()
    print_report(report)
    out = Path(args.out or Path(__file__).resolve().parent / "results" / f"conv-ceiling-{args.backbone}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
