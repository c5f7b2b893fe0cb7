#!/usr/bin/env python
"""Speed and memory of the predictive networks and their TMU versions on this machine (CPU).

What it measures, each configuration in a fresh subprocess (so its peak resident memory, ru_maxrss, is its own):
- training step: for a backbone, forward + frame loss + backward + Adam step; for a TMU model with M sources,
  memory bank collect (M frozen sources, no autograd) + target forward + Eq. 6 loss + backward + Adam step.
  The clip is 20 frames (10 -> 10) with a scheduled-sampling mask (ground truth with probability 0.5 at each
  output step), as in the middle of training;
  With `--precision fp32,bf16` (the default) each training step is also timed under CPU bf16 autocast (master
  weights fp32), in a child of its own, and the table shows the bf16 time and its ratio to fp32;
- inference: `predict` (10 input frames -> 10 predicted frames, no sources), in ms per sequence;
- achieved GFLOP/s from an analytic count of the convolution MACs (`conv_macs`), x2 for FLOPs, x3 for training
  (forward + backward) and x1 for the sources (forward only), as a fraction of this machine's peak measured by the
  same script (a 4096 fp32 matmul and a 5x5 convolution 128 -> 256 on 16x16, batch 16).
  Each training child also probes the convolution speed (the same convolution, 3 calls) right after every timed
  step, and %probe is the median over steps of the step's GFLOP/s over the probe that follows it: a ratio taken
  under the same machine conditions, where the machine is shared and its speed drifts between minutes.

Options select backbones, M values, configurations, repeats; `--long-run` records step time against step number
for PredRNN at the paper's configuration (denormal slowdown check); `--memory-curve` records the peak memory of a
training step against M (up to 64 sources) at the paper's configuration.

    .venv/bin/python benchmarks/speed.py                       # default matrix (about 30 minutes here)
    .venv/bin/python benchmarks/speed.py --configs demo --backbones convlstm --sources 0,2 --repeats 2   # quick
    .venv/bin/python benchmarks/speed.py --long-run --skip-matrix
    .venv/bin/python benchmarks/speed.py --memory-curve --skip-matrix
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Paper: 64x64x1 frames, patch 4 (-> 16x16x16), 4 layers x 64 hidden, 5x5 filters, 10 -> 10, batch 8.
CONFIGS = {
    "paper": dict(hidden=(64, 64, 64, 64), batch=8),
    "demo": dict(hidden=(32, 32), batch=16),
}
FRAME, PATCH, KERNEL, SEQ_LEN, T_IN = 64, 4, 5, 20, 10
BACKBONE_NAMES = ("convlstm", "predrnn", "mim")
PRECISIONS = ("fp32", "bf16")


# ---------------------------------------------------------------------------------------------------------------
# analytic FLOP count
# ---------------------------------------------------------------------------------------------------------------
def conv_macs(cfg) -> int:
    """Convolution multiply-accumulates of one recurrent step for one sample: every convolution of every cell and
    the output head (biases, normalisations and element-wise gate arithmetic are not counted)."""
    h, w = cfg.state_size
    k2 = cfg.kernel_size**2
    hidden = cfg.hidden
    tmu = set(cfg.transfer_layers)
    total = 0
    for layer, hid in enumerate(hidden):
        cin = cfg.patch_channels if layer == 0 else hidden[layer - 1]
        m = cfg.n_sources if layer in tmu else 0
        zz = hidden[layer - 1] if layer > 0 else hidden[-1]  # incoming zigzag memory (PredRNN, MIM)
        mim_block = cfg.backbone == "mim" and layer > 0
        n_gates = 3 if mim_block else 4
        macs = (cin + hid) * (n_gates + m) * hid * k2  # fused gate convolution over [X; H] (+ M transfer gates)
        macs += hid * m * hid  # the M memory distillers (1x1)
        if cfg.backbone in ("predrnn", "mim"):
            macs += (cin + zz) * 3 * hid * k2  # zigzag memory M: i', f', g'
            macs += 2 * hid * hid * k2  # output gate: W_o * [C; M]
            macs += 2 * hid * hid  # W_1x1 * [C; M]
        if mim_block:
            macs += cin * 4 * hid * k2  # MIM-N from X_t - X_{t-1}
            macs += hid * 3 * hid * k2  # MIM-N from N_{t-1}
            macs += hid * hid * k2  # MIM-N output: W_no * N_t
            macs += 2 * hid * 4 * hid * k2  # MIM-S from [D_t; C_{t-1}]
            macs += hid * hid * k2  # MIM-S output: W_so * S_t
        total += macs * h * w
    total += hidden[-1] * cfg.patch_channels * h * w  # output head (1x1)
    return total


def module_conv_macs(net) -> int:
    """The same count read from the modules (a cross-check of `conv_macs`): each Conv2d runs once per step."""
    import torch

    h, w = net.config.state_size
    return sum(
        m.out_channels * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1] * h * w
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    )


def flops(cfg, batch: int, *, train: bool) -> dict[str, float]:
    """FLOPs of one training step (target fwd+bwd = 3x forward, sources forward only) or one prediction."""
    steps = SEQ_LEN - 1
    target = 2 * conv_macs(cfg) * steps * batch
    if not train:
        return {"target": target, "sources": 0.0, "total": target}
    source = 2 * conv_macs(cfg.replace(n_sources=0, tmu_layers=None, released=False)) * steps * batch
    srcs = cfg.n_sources * source
    return {"target": 3 * target, "sources": srcs, "total": 3 * target + srcs}


# ---------------------------------------------------------------------------------------------------------------
# child processes
# ---------------------------------------------------------------------------------------------------------------
def _setup_torch(threads: int | None):
    import torch

    # Before any parallel operation: set_flush_denormal only reaches threads created after the call (see docs).
    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)
    return torch


def flush_effective(torch) -> bool:
    """Whether denormals are flushed on every thread of the pool: one parallel element-wise product of subnormal
    numbers must give zeros everywhere. torch.set_flush_denormal only changes the thread that calls it and the
    threads created after it, so a call made after the first parallel operation leaves the pool's workers slow."""
    x = torch.full((1 << 20,), 1e-39)
    return bool(((x * 1.0) == 0).all())


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _timeit(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def measure_peak(torch, repeats: int = 5, size: int = 4096) -> dict[str, float]:
    """fp32 matmul and the 5x5 convolution 128 -> 256 on 16x16, batch 16 (NCHW and channels_last), GFLOP/s medians."""
    import torch.nn.functional as F

    out = {}
    with torch.inference_mode():
        a, b = torch.randn(size, size), torch.randn(size, size)
        t = _timeit(lambda: torch.mm(a, b), repeats, 1)
        out["matmul"] = 2 * size**3 / statistics.median(t) / 1e9
        x, wt = torch.randn(16, 128, 16, 16), torch.randn(256, 128, 5, 5) * 0.05
        conv_flops = 2 * 16 * 256 * 128 * 25 * 16 * 16
        t = _timeit(lambda: F.conv2d(x, wt, padding=2), 3 * repeats, 2)
        out["conv"] = conv_flops / statistics.median(t) / 1e9
        xc, wc = x.contiguous(memory_format=torch.channels_last), wt.contiguous(memory_format=torch.channels_last)
        t = _timeit(lambda: F.conv2d(xc, wc, padding=2), 3 * repeats, 2)
        out["conv_channels_last"] = conv_flops / statistics.median(t) / 1e9
    return out


def conv_probe(torch, calls: int = 9) -> float:
    """A short convolution-peak probe (GFLOP/s, median of `calls`), run by each child just before it measures."""
    import torch.nn.functional as F

    with torch.inference_mode():
        x, wt = torch.randn(16, 128, 16, 16), torch.randn(256, 128, 5, 5) * 0.05
        t = _timeit(lambda: F.conv2d(x, wt, padding=2), calls, 2)
    return 2 * 16 * 256 * 128 * 25 * 16 * 16 / statistics.median(t) / 1e9


def clips(torch, n: int, batch: int, seed: int):
    """n batches of Moving MNIST clips (B, 20, 1, 64, 64) (real digits, so the sparse frames of the benchmark),
    or uniform noise when the dataset cannot be built."""
    try:
        from transmem.data import load_dataset

        data = load_dataset("mnist2", "train", size=n * batch, seed=seed)
        frames = torch.from_numpy(data.frames[:, :SEQ_LEN]).float()
        return [frames[i * batch : (i + 1) * batch].contiguous() for i in range(n)], "mnist2"
    except Exception as err:  # noqa: BLE001 (the benchmark must run whatever the data module does)
        print(f"note: Moving MNIST unavailable ({err}); using uniform noise frames", file=sys.stderr)
        g = torch.Generator().manual_seed(seed)
        return [torch.rand(batch, SEQ_LEN, 1, FRAME, FRAME, generator=g) for _ in range(n)], "uniform"


def sampling_mask(torch, batch: int, seed: int, eta: float = 0.5):
    """(B, T-2): true frames for the first t_in-1 inputs, ground truth with probability eta afterwards."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, SEQ_LEN - 2)
    mask[:, T_IN - 1 :] = (torch.rand(batch, SEQ_LEN - 1 - T_IN, generator=g) < eta).float()
    return mask


def build(torch, job: dict):
    from transmem.models import MemoryBank, NetConfig, PredictiveNet

    cfg = NetConfig(
        backbone=job["backbone"],
        frame_size=(FRAME, FRAME),
        patch_size=PATCH,
        hidden=tuple(job["hidden"]),
        kernel_size=KERNEL,
        n_sources=job["m"],
        released=job.get("released", False),
    )
    torch.manual_seed(0)
    net = PredictiveNet(cfg)
    assert module_conv_macs(net) == conv_macs(cfg), "conv_macs disagrees with the modules"
    bank = None
    if job["m"] > 0 and not job.get("no_sources"):
        plain = cfg.replace(n_sources=0, released=False, tmu_layers=None)
        sources = [PredictiveNet(plain) for _ in range(job["m"])]
        bank = MemoryBank(sources, target=cfg, batch_sources=job.get("batch_sources", False))
    return cfg, net, bank


def make_train_step(torch, job: dict):
    """(config, step(record) -> seconds, parts) for one model of the job: collect + forward + loss + backward + Adam."""
    from transmem.training.objective import transfer_objective

    cfg, net, bank = build(torch, job)
    batch = job["batch"]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n_clips = max(1, min(job.get("steps", 4), 8))
    data, _ = clips(torch, n_clips, batch, seed=1)
    mask = sampling_mask(torch, batch, seed=2)
    parts: dict[str, list[float]] = {"collect": [], "forward": [], "backward": []}
    counter = [0]
    bf16 = job.get("precision") == "bf16"

    def autocast():
        """bf16 autocast for collect, forward and loss (backward and Adam stay outside, on fp32 master weights)."""
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step(record: bool = True) -> float:
        frames = data[counter[0] % n_clips]
        counter[0] += 1
        t0 = time.perf_counter()
        with autocast():
            memories = bank.collect(frames, t_in=T_IN, mask=mask) if bank is not None else None
        t1 = time.perf_counter()
        with autocast():
            out = net(frames, t_in=T_IN, mask=mask)
            loss, _ = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=0.1)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t3 = time.perf_counter()
        if record:
            parts["collect"].append(t1 - t0)
            parts["forward"].append(t2 - t1)
            parts["backward"].append(t3 - t2)
        return t3 - t0

    return cfg, step, parts


def paired_ratios(times: list[float], base_times: list[float]) -> dict[str, float]:
    """paired_ratio: the median of the per-pair ratios (each TMU step over the backbone step right after it, so
    the machine's drift between minutes cancels); ratio_of_medians, which runs before 2026-11-21 reported as
    x backbone, for comparison."""
    return {"paired_ratio": statistics.median(t / b for t, b in zip(times, base_times)),
            "ratio_of_medians": statistics.median(times) / statistics.median(base_times)}


def child_train(torch, job: dict) -> dict:
    """Times `steps` training steps after `warmup`. With job['paired'] (M > 0), the backbone (M = 0) is built after
    the TMU model's warm-up (so the peak memory read there is the TMU model's alone) and its steps alternate with
    the TMU model's, and `paired_ratio` is the median of the per-pair ratios (the same machine conditions)."""
    _, data_name = clips(torch, 1, 1, seed=1)
    cfg, step, parts = make_train_step(torch, job)
    probe = conv_probe(torch) if not job.get("no_probe") else None
    for _ in range(job["warmup"]):
        step(False)
    if job["warmup"] == 0:
        first = step(True)
    rss = _max_rss_mb()
    paired = job.get("paired") and job["m"] > 0
    if paired:
        _, base_step, _ = make_train_step(torch, {**job, "m": 0, "released": False})
        for _ in range(max(1, job["warmup"])):
            base_step(False)
    times, base_times, probes = [], [], []

    def record(seconds: float) -> None:
        """A timed step, then its backbone pair and the convolution speed right after it (same machine conditions)."""
        times.append(seconds)
        if paired:
            base_times.append(base_step(False))
        if probe is not None:
            probes.append(conv_probe(torch, calls=3))

    if job["warmup"] == 0:  # the first (cold) step counts
        record(first)
    while len(times) < job["steps"]:
        record(step(True))
    train_flops = flops(cfg, job["batch"], train=True)
    out = {
        "times": times,
        "parts": {k: statistics.median(v) for k, v in parts.items() if v},
        "probe": probe,
        "step_probes": probes,
        "probe_ratio": (statistics.median(train_flops["total"] / t / 1e9 / p for t, p in zip(times, probes))
                        if probes else None),
        "data": data_name,
        "flops": train_flops,
        "max_rss_mb": rss,
    }
    if paired:
        out["paired_backbone_times"] = base_times
        out.update(paired_ratios(times, base_times))
    return out


def child_infer(torch, job: dict) -> dict:
    """Times `predict` (10 -> 10, no sources; the sources are not even built). With job['paired'] (M > 0) a backbone
    predicts alternately, for a ratio measured under the same conditions."""
    cfg, net, _ = build(torch, {**job, "no_sources": True})
    batch = job["batch"]
    data, data_name = clips(torch, 1, batch, seed=3)
    frames_in = data[0][:, :T_IN]
    probe = conv_probe(torch) if not job.get("no_probe") else None
    nets = [net]
    if job.get("paired") and job["m"] > 0:
        nets.append(build(torch, {**job, "m": 0, "released": False})[1])
    for n in nets:
        n.eval()
        for _ in range(job["warmup"]):
            n.predict(frames_in, horizon=SEQ_LEN - T_IN)
    times: list[list[float]] = [[] for _ in nets]
    for _ in range(job["steps"]):
        for n, ts in zip(nets, times):
            t0 = time.perf_counter()
            n.predict(frames_in, horizon=SEQ_LEN - T_IN)
            ts.append(time.perf_counter() - t0)
    out = {
        "times": times[0],
        "probe": probe,
        "data": data_name,
        "flops": flops(cfg, batch, train=False),
        "max_rss_mb": _max_rss_mb(),
    }
    if len(nets) > 1:
        out["paired_backbone_times"] = times[1]
        out.update(paired_ratios(times[0], times[1]))
    return out


def child_long(torch, job: dict) -> dict:
    """Step time against step number: PredRNN (or another backbone), paper configuration, fresh clips each step."""
    from transmem.training.objective import frame_loss

    if not job.get("flush", True):
        torch.set_flush_denormal(False)
    cfg, net, _ = build(torch, job)
    batch, steps = job["batch"], job["steps"]
    data, data_name = clips(torch, min(steps, 64), batch, seed=4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times, losses = [], []
    for s in range(steps):
        frames = data[s % len(data)]
        mask = sampling_mask(torch, batch, seed=100 + s, eta=max(0.0, 1.0 - s / max(steps, 1)))
        t0 = time.perf_counter()
        out = net(frames, t_in=T_IN, mask=mask)
        loss = frame_loss(out.frames, frames[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
        print(f"step {s}: {times[-1]:.2f} s loss {losses[-1]:.5f}", file=sys.stderr, flush=True)
    return {"times": times, "losses": losses, "data": data_name, "flops": flops(cfg, batch, train=True),
            "max_rss_mb": _max_rss_mb()}


def child_main(spec: str) -> int:
    job = json.loads(spec)
    torch = _setup_torch(job.get("threads"))
    if job["kind"] == "peak":
        result = measure_peak(torch, repeats=job.get("repeats", 5))
    elif job["kind"] == "train":
        result = child_train(torch, job)
    elif job["kind"] == "infer":
        result = child_infer(torch, job)
    elif job["kind"] == "long":
        result = child_long(torch, job)
    else:
        raise ValueError(f"unknown job kind {job['kind']}")
    result["load_after"] = os.getloadavg()[0]
    result["flush_denormal_all_threads"] = flush_effective(torch)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def _proc_stat() -> tuple[int, int]:
    """(all jiffies, idle jiffies) over all CPUs since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + (v[4] if len(v) > 4 else 0)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_busy(interval: float = 1.0) -> float:
    """Fraction of all CPUs busy over `interval` seconds (read from /proc/stat; nan where it cannot be read).
    Called while this script runs no child, so it measures the other users of the machine."""
    try:
        t0, i0 = _proc_stat()
        time.sleep(interval)
        t1, i1 = _proc_stat()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


WAIT = {"max_s": 0.0, "below": 0.2}  # set from --wait-quiet / --quiet-below


def wait_quiet() -> tuple[float, float]:
    """Wait (at most WAIT['max_s'] seconds) until the other processes leave the CPUs idle; (busy, waited s)."""
    t0 = time.perf_counter()
    busy = cpu_busy(0.5)
    while busy > WAIT["below"] and time.perf_counter() - t0 < WAIT["max_s"]:
        busy = cpu_busy(2.0)
    return busy, time.perf_counter() - t0


def run_child(job: dict, timeout: float | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(job)]
    busy_before, waited = wait_quiet()
    load_before = os.getloadavg()[0]
    try:
        stat0, cpu0 = _proc_stat(), _children_cpu()
    except (OSError, ValueError, IndexError):
        stat0 = None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    others = float("nan")  # the CPU share other processes took while the child ran
    if stat0 is not None:
        try:
            (all1, idle1), cpu1 = _proc_stat(), _children_cpu()
            total, idle = all1 - stat0[0], idle1 - stat0[1]
            hz = os.sysconf("SC_CLK_TCK")
            others = max(0.0, ((total - idle) / hz - (cpu1 - cpu0)) / max(1e-9, total / hz))
        except (OSError, ValueError, IndexError):
            others = float("nan")  # /proc/stat unreadable after the run: the share stays unknown, as without it
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail), "wall_s": wall, "job": job}
    result = json.loads(lines[-1][len("RESULT ") :])
    result.update(wall_s=wall, load_before=load_before, busy_before=busy_before, waited_s=waited, others_busy=others,
                  job=job)
    return result


# ---------------------------------------------------------------------------------------------------------------
# the matrix, the long run, the memory curve
# ---------------------------------------------------------------------------------------------------------------
def run_measured(job: dict, args) -> dict:
    """run_child, again (up to --retries times) when other processes took more than --retry-busy of the CPUs while
    it ran; the least disturbed attempt is kept and every attempt's disturbance is recorded."""
    best = None
    seen = []
    for _ in range(1 + max(0, args.retries)):
        res = run_child(job, timeout=args.timeout)
        seen.append(res.get("others_busy"))
        if best is None or not (res.get("others_busy", 1.0) >= best.get("others_busy", 1.0)):
            best = res
        if "error" in res or not res.get("others_busy", 0.0) > args.retry_busy:
            break
    best["attempts_others_busy"] = seen
    return best


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def run_matrix(args, peak: dict) -> list[dict]:
    rows = []
    conv_peak = peak["conv"]
    for config in args.configs:
        base = CONFIGS[config]
        hidden = tuple(args.demo_hidden) if config == "demo" else base["hidden"]
        batch = (args.demo_batch if config == "demo" else args.paper_batch) or base["batch"]
        m_values = args.sources if config == "demo" or args.paper_sources is None else args.paper_sources
        for backbone in args.backbones:
            ref: dict = {}  # the backbone (M = 0) row: the reference of the ratios
            runs = [(0, "backbone")] if 0 in m_values else []
            for variant in args.variants:  # "released:2" limits a variant to some M values
                name, _, only = variant.partition(":")
                runs += [(m, name) for m in (int_list(only) if only else m_values) if m > 0]
            for m, variant in runs:
                row = {"config": config, "backbone": backbone, "m": m, "variant": variant, "batch": batch,
                       "hidden": list(hidden)}
                job = dict(backbone=backbone, hidden=list(hidden), batch=batch, m=m, released=variant == "released",
                           warmup=args.warmup, steps=args.repeats, threads=args.threads,
                           batch_sources=args.batch_sources,
                           paired=not args.unpaired)
                for precision in args.precision:  # fp32 is row["train"], bf16 autocast row["train_bf16"]
                    key = "train" if precision == "fp32" else f"train_{precision}"
                    row[key] = run_measured({**job, "kind": "train", "precision": precision}, args)
                if not args.no_infer:
                    row["infer"] = run_measured({**job, "kind": "infer", "steps": args.infer_repeats, "warmup": 1}, args)
                summarise(row, conv_peak, ref)
                rows.append(row)
                print(format_row(row), flush=True)
    return rows


def summarise(row: dict, conv_peak: float, ref: dict) -> None:
    """Medians, GFLOP/s, fractions of the peak and the TMU/backbone ratios (ref holds the M = 0 row)."""
    s = {}
    tr, inf = row.get("train"), row.get("infer")
    if tr and "times" in tr:
        t = median(tr["times"])
        f = tr["flops"]["total"]
        s.update(train_s=t, train_ms_per_seq=1e3 * t / row["batch"], train_gflops=f / t / 1e9,
                 train_frac_peak=f / t / 1e9 / conv_peak, train_rss_mb=tr["max_rss_mb"],
                 train_frac_probe=tr.get("probe_ratio") or ((f / t / 1e9 / tr["probe"]) if tr.get("probe") else None),
                 collect_s=tr["parts"].get("collect"), forward_s=tr["parts"].get("forward"),
                 backward_s=tr["parts"].get("backward"), train_flops=f)
    bf = row.get("train_bf16")
    if bf and "times" in bf:
        s["train_bf16_s"] = median(bf["times"])
        if "train_s" in s:
            s["bf16_over_fp32"] = s["train_bf16_s"] / s["train_s"]
    if inf and "times" in inf:
        t = median(inf["times"])
        f = inf["flops"]["total"]
        s.update(infer_ms_per_seq=1e3 * t / row["batch"], infer_gflops=f / t / 1e9,
                 infer_frac_peak=f / t / 1e9 / conv_peak, infer_rss_mb=inf["max_rss_mb"], infer_flops=f)
    if row["m"] == 0:
        ref.update(s)
    elif ref:
        if "train_s" in s and "train_s" in ref:
            s["train_ratio_separate"] = s["train_s"] / ref["train_s"]
            s["train_ratio"] = tr.get("paired_ratio", s["train_ratio_separate"])
            s["train_flop_ratio"] = s["train_flops"] / ref["train_flops"]
            s["train_ratio_over_flops"] = s["train_ratio"] / s["train_flop_ratio"]
        if "infer_ms_per_seq" in s and "infer_ms_per_seq" in ref:
            s["infer_ratio_separate"] = s["infer_ms_per_seq"] / ref["infer_ms_per_seq"]
            s["infer_ratio"] = inf.get("paired_ratio", s["infer_ratio_separate"])
            s["infer_flop_ratio"] = s["infer_flops"] / ref["infer_flops"]
            s["infer_ratio_over_flops"] = s["infer_ratio"] / s["infer_flop_ratio"]
    row["summary"] = s


def fmt(x, spec=".2f", none="-"):
    return none if x is None or (isinstance(x, float) and x != x) else format(x, spec)


HEADER = (
    f"{'config':<6} {'backbone':<8} {'variant':<8} {'M':>3} {'train s':>8} {'bf16 s':>8} {'bf16/32':>7} "
    f"{'collect':>7} {'GFLOP/s':>7} {'%peak':>6} "
    f"{'%probe':>6} {'x bb':>5} {'x flop':>6} {'infer ms/seq':>12} {'GFLOP/s':>7} {'x bb':>5} {'x flop':>6} "
    f"{'train MB':>8} {'infer MB':>8} {'othr':>4}"
)


def cpu_line() -> str:
    """The table's heading: the CPU model and its bf16-relevant flags (bf16 speed depends on them)."""
    from transmem.machine import BF16_FLAGS, cpu_flags, cpu_label

    return f"cpu: {cpu_label()}; flags: {' '.join(cpu_flags()) or 'none of ' + ' '.join(BF16_FLAGS)}"


def format_row(row: dict) -> str:
    s = row.get("summary", {})
    err = " ".join(f"[{k} error: {row[k]['error']}]" for k in ("train", "train_bf16", "infer")
                   if row.get(k, {}).get("error"))
    return (
        f"{row['config']:<6} {row['backbone']:<8} {row['variant']:<8} {row['m']:>3} {fmt(s.get('train_s'), '.3f'):>8} "
        f"{fmt(s.get('train_bf16_s'), '.3f'):>8} {fmt(s.get('bf16_over_fp32')):>7} "
        f"{fmt(s.get('collect_s'), '.3f'):>7} {fmt(s.get('train_gflops'), '.0f'):>7} "
        f"{fmt(100 * s['train_frac_peak'] if 'train_frac_peak' in s else None, '.0f'):>6} "
        f"{fmt(100 * s['train_frac_probe'] if s.get('train_frac_probe') else None, '.0f'):>6} "
        f"{fmt(s.get('train_ratio')):>5} {fmt(s.get('train_flop_ratio')):>6} {fmt(s.get('infer_ms_per_seq'), '.1f'):>12} "
        f"{fmt(s.get('infer_gflops'), '.0f'):>7} {fmt(s.get('infer_ratio')):>5} {fmt(s.get('infer_flop_ratio')):>6} "
        f"{fmt(s.get('train_rss_mb'), '.0f'):>8} {fmt(s.get('infer_rss_mb'), '.0f'):>8} "
        f"{fmt(row.get('train', {}).get('others_busy'), '.2f'):>4}" + (f"  {err}" if err else "")
    )


def final_table(rows: list[dict], peak: dict, end_peak: dict) -> dict:
    """Re-summarise every row against one conservative convolution peak: the highest median seen in this run (the
    peak measurements at the start and the end, and every child's probe), and print the table."""
    probes = [r[k]["probe"] for r in rows for k in ("train", "infer") if r.get(k, {}).get("probe")]
    conv = max([peak.get("conv", 0.0), end_peak.get("conv", 0.0), *probes])
    used = {"conv": conv, "matmul": max(peak.get("matmul", 0.0), end_peak.get("matmul", 0.0)),
            "conv_channels_last": max(peak.get("conv_channels_last", 0.0), end_peak.get("conv_channels_last", 0.0)),
            "note": "conv: the highest median of the 5x5 128->256 16x16 batch-16 convolution seen in this run"}
    print(f"\nfinal table: %peak against the convolution peak {conv:.0f} GFLOP/s (highest median in this run; "
          f"matmul {used['matmul']:.0f}, channels_last conv {used['conv_channels_last']:.0f})")
    print(cpu_line())
    print(HEADER)
    for config in dict.fromkeys(r["config"] for r in rows):
        for backbone in dict.fromkeys(r["backbone"] for r in rows if r["config"] == config):
            ref: dict = {}
            for row in (r for r in rows if r["config"] == config and r["backbone"] == backbone):
                summarise(row, conv, ref)
                print(format_row(row))
    return used


def run_long(args) -> dict:
    job = dict(kind="long", backbone=args.long_backbone, hidden=list(CONFIGS["paper"]["hidden"]),
               batch=CONFIGS["paper"]["batch"], m=0, steps=args.long_steps, warmup=0, threads=args.threads,
               flush=not args.long_no_flush)
    res = run_child(job)
    if "times" in res:
        t = res["times"]
        k = max(1, len(t) // 5)
        res["summary"] = {"first_s": t[0], "median_s": median(t), "first_fifth_median_s": median(t[1 : k + 1]),
                          "last_fifth_median_s": median(t[-k:]), "max_s": max(t),
                          "last_over_first_fifth": median(t[-k:]) / median(t[1 : k + 1])}
        print(f"long run ({args.long_backbone}, paper config, {len(t)} steps, flush={job['flush']}): "
              + ", ".join(f"{k} {v:.2f}" for k, v in res["summary"].items()), flush=True)
    else:
        print(f"long run failed: {res.get('error')}", flush=True)
    return res


def run_memory_curve(args) -> list[dict]:
    out = []
    for m in args.memory_sources:
        job = dict(kind="train", backbone=args.memory_backbone, hidden=list(CONFIGS["paper"]["hidden"]),
                   batch=CONFIGS["paper"]["batch"], m=m, warmup=0, steps=1, threads=args.threads, no_probe=True)
        res = run_child(job)
        row = {"m": m, "backbone": args.memory_backbone, "max_rss_mb": res.get("max_rss_mb"),
               "step_s": res["times"][0] if "times" in res else None, "error": res.get("error")}
        out.append(row)
        print(f"memory curve {args.memory_backbone} M={m:>3}: peak RSS {fmt(row['max_rss_mb'], '.0f')} MB, "
              f"step {fmt(row['step_s'], '.1f')} s" + (f" [{row['error']}]" if row["error"] else ""), flush=True)
    return out


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def name_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def precision_list(text: str) -> list[str]:
    names = name_list(text)
    bad = [n for n in names if n not in PRECISIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"precisions are {', '.join(PRECISIONS)}; got {text!r}")
    return sorted(set(names), key=PRECISIONS.index)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", type=name_list, default=list(BACKBONE_NAMES))
    p.add_argument("--sources", type=int_list, default=[0, 1, 2, 4, 8, 16], help="M values (demo config)")
    p.add_argument("--paper-sources", type=int_list, default=[0, 2],
                   help="M values at the paper config (default 0,2 to keep the default run short; "
                        "give 0,1,2,4,8,16 for the full matrix, about 40 min)")
    p.add_argument("--configs", type=name_list, default=["demo", "paper"], help="demo, paper")
    p.add_argument("--variants", type=name_list, default=["paper"],
                   help="TMU variants: paper (TMU in every layer), released (layer 0 only, the authors' code); "
                        "NAME:M1,M2 limits a variant to those M values, e.g. paper,released:2")
    p.add_argument("--demo-hidden", type=int_list, default=list(CONFIGS["demo"]["hidden"]))
    p.add_argument("--demo-batch", type=int, default=CONFIGS["demo"]["batch"])
    p.add_argument("--paper-batch", type=int, default=CONFIGS["paper"]["batch"])
    p.add_argument("--repeats", type=int, default=2, help="timed training steps per configuration (median)")
    p.add_argument("--infer-repeats", type=int, default=3, help="timed predictions per configuration (median)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--precision", type=precision_list, default=["fp32", "bf16"],
                   help="training-step precisions: fp32, bf16 (CPU autocast, fp32 master weights)")
    p.add_argument("--no-infer", action="store_true")
    p.add_argument("--unpaired", action="store_true",
                   help="TMU children do not also time a backbone (then ratios come from separate processes)")
    p.add_argument("--batch-sources", action="store_true",
                   help="MemoryBank(batch_sources=True): sources of one architecture as one vmapped rollout")
    p.add_argument("--skip-matrix", action="store_true", help="only the peak and the options below")
    p.add_argument("--long-run", action="store_true", help="step time over --long-steps steps (PredRNN, paper config)")
    p.add_argument("--long-steps", type=int, default=50)
    p.add_argument("--long-backbone", default="predrnn")
    p.add_argument("--long-no-flush", action="store_true", help="the long run without flushing denormals")
    p.add_argument("--memory-curve", action="store_true", help="peak memory of a training step against M (paper config)")
    p.add_argument("--memory-sources", type=int_list, default=[0, 8, 16, 32, 64])
    p.add_argument("--memory-backbone", default="convlstm")
    p.add_argument("--timeout", type=float, default=None, help="seconds per child process")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each measurement, wait up to this long for other processes to leave the CPUs idle "
                        "(the machine is shared; the busy fraction seen is recorded either way)")
    p.add_argument("--quiet-below", type=float, default=0.2, help="CPU busy fraction that counts as idle")
    p.add_argument("--retries", type=int, default=0,
                   help="measure a configuration again when others took more than --retry-busy of the CPUs meanwhile")
    p.add_argument("--retry-busy", type=float, default=0.1)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "speed.json"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    started = time.time()
    WAIT.update(max_s=args.wait_quiet, below=args.quiet_below)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    from transmem.machine import cpu_flags, cpu_model, cpu_name

    report = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "cpu": cpu_name(), "cpu_model": cpu_model(),
                    "cpu_flags": list(cpu_flags())},
        "args": {k: v for k, v in vars(args).items() if k != "child"},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    import torch  # a dependency of transmem; imported here so `--child` processes set their threads first

    report["machine"]["torch"] = torch.__version__
    report["machine"]["threads"] = args.threads or torch.get_num_threads()

    def save():
        report["elapsed_s"] = time.time() - started
        out_path.write_text(json.dumps(report, indent=1))

    peak = run_child({"kind": "peak", "threads": args.threads, "repeats": 5})
    report["peak_start"] = peak
    print("peak (GFLOP/s): " + ", ".join(f"{k} {peak[k]:.0f}" for k in ("matmul", "conv", "conv_channels_last")), flush=True)
    if not args.skip_matrix:
        print(cpu_line())
        print(HEADER, flush=True)
        report["rows"] = run_matrix(args, peak)
        save()
        end_peak = run_child({"kind": "peak", "threads": args.threads, "repeats": 5})
        report["peak_end"] = end_peak
        print("peak at the end (GFLOP/s): " + ", ".join(f"{k} {end_peak[k]:.0f}" for k in ("matmul", "conv", "conv_channels_last")))
        report["peak_used"] = final_table(report["rows"], peak, end_peak)
    save()
    if args.long_run:
        report["long_run"] = run_long(args)
        save()
    if args.memory_curve:
        report["memory_curve"] = run_memory_curve(args)
        save()
    print(f"wrote {out_path} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
