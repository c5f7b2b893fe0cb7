"""Which precision a run trains in: `precision: auto | fp32 | bf16` in the training config.

bf16 pays only on some CPUs: on one machine of this project's kind (no native bf16) an autocast step was 4-5x
slower than fp32; on an AMX Xeon it took 0.6x the time, and bf16 training ended within fp32's seed spread
(docs/performance.md). So `auto` decides by measurement, on the machine at hand:

- CUDA: bf16 where the device supports it (Ampere and later), else fp32;
- a CPU without native bf16 (no avx512_bf16 / amx_bf16 flag): fp32, without a probe;
- otherwise a probe: a few training steps of the configured method on the first batch, in both precisions,
  alternated, on a copy of the method and a throwaway optimizer (the run's weights and optimizer are untouched).
  bf16 is taken only if it is faster by MARGIN. If not, the frozen sources of a memory bank are timed alone:
  they run in bf16 when that is faster by MARGIN, as their memories are regression targets only.

Master weights and the optimizer stay fp32 (autocast casts per operation); frames, losses, metrics and
evaluation stay fp32. The choice and the probe's times are written to `<out>/precision.json`, and a resumed run
reads them back instead of probing again, so a run keeps one precision from start to end.
"""
from __future__ import annotations

import copy
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from transmem.machine import NATIVE_BF16_FLAGS, cpu_flags
from transmem.registry import check_choice

PRECISIONS = ("auto", "bf16", "fp32")
MARGIN = 1.2  # bf16 must take at most 1 / MARGIN of fp32's time: smaller gains are within a probe's noise
PROBE_REPEATS = 3  # timed steps per precision, after one warm-up step each


@dataclass(frozen=True)
class PrecisionChoice:
    train: str  # the training step's autocast: fp32 or bf16
    bank: str  # the frozen sources' rollout (memory transfer's memory bank): bf16, or fp32 = as the step runs
    reason: str
    seconds: dict[str, float] = field(default_factory=dict)  # the probe's median times, when it ran

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PrecisionChoice":
        choice = cls(train=d["train"], bank=d["bank"], reason=str(d.get("reason", "")),
                     seconds={k: float(v) for k, v in d.get("seconds", {}).items()})
        if {choice.train, choice.bank} - {"fp32", "bf16"}:
            raise ValueError(f"precision.json names precisions {choice.train}, {choice.bank}; expected fp32 or bf16")
        return choice

    def describe(self, *, bank: bool = True) -> str:
        """One line for the log; `bank`: whether the method has a memory bank to mention."""
        times = ", ".join(f"{k} {v:.3g} s" for k, v in self.seconds.items())
        where = f"training in {self.train}" + (f", memory bank in {self.bank}" if bank else "")
        return f"{where}: {self.reason}" + (f" ({times})" if times else "")


def has_native_bf16(device: torch.device, flags: tuple[str, ...] | None = None) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(set(cpu_flags() if flags is None else flags) & set(NATIVE_BF16_FLAGS))


def choose_precision(setting: str, *, device: torch.device, time_step: Callable[[str], float],
                     time_bank: Callable[[str], float] | None = None, flags: tuple[str, ...] | None = None,
                     repeats: int = PROBE_REPEATS, margin: float = MARGIN) -> PrecisionChoice:
    """The precision of a run. `time_step(p)` / `time_bank(p)` run one training step / one bank collection in
    precision p and return its seconds (see `step_timer`, `bank_timer`); `time_bank` is None without a bank."""
    check_choice("precision", setting, PRECISIONS)
    if setting != "auto":
        return PrecisionChoice(setting, setting, "set in the config")
    if device.type == "cuda":
        if has_native_bf16(device):
            return PrecisionChoice("bf16", "bf16", "auto on a CUDA device with bf16")
        return PrecisionChoice("fp32", "fp32", "auto on a CUDA device without bf16")
    if not has_native_bf16(device, flags):
        return PrecisionChoice("fp32", "fp32", f"auto: this CPU has no native bf16 ({' / '.join(NATIVE_BF16_FLAGS)})")
    step = _alternated(time_step, repeats)
    seconds = {"step_fp32": step["fp32"], "step_bf16": step["bf16"]}
    if step["fp32"] >= margin * step["bf16"]:
        return PrecisionChoice("bf16", "bf16", f"auto: the bf16 step took {step['bf16'] / step['fp32']:.2f}x "
                               "fp32's time in the probe", seconds)
    if time_bank is None:
        return PrecisionChoice("fp32", "fp32", f"auto: the bf16 step took {step['bf16'] / step['fp32']:.2f}x fp32's "
                               f"time in the probe, not under 1/{margin:g}", seconds)
    bank = _alternated(time_bank, repeats)
    seconds |= {"bank_fp32": bank["fp32"], "bank_bf16": bank["bf16"]}
    bank_precision = "bf16" if bank["fp32"] >= margin * bank["bf16"] else "fp32"
    return PrecisionChoice("fp32", bank_precision, f"auto: bf16 took {step['bf16'] / step['fp32']:.2f}x fp32's time "
                           f"for the step and {bank['bf16'] / bank['fp32']:.2f}x for the memory bank in the probe "
                           f"(taken under 1/{margin:g})", seconds)


def _alternated(timer: Callable[[str], float], repeats: int) -> dict[str, float]:
    """Median seconds per precision, the two alternated so that a drift in machine load hits both alike."""
    runs: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(repeats + 1):
        for p in ("fp32", "bf16"):
            seconds = timer(p)
            if i:  # the first of each is a warm-up (allocations, oneDNN kernel choice)
                runs[p].append(seconds)
    return {p: statistics.median(v) for p, v in runs.items()}


def autocast(device: torch.device, precision: str) -> torch.autocast:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def step_timer(method: torch.nn.Module, frames: torch.Tensor, mask: torch.Tensor, t_in: int) -> Callable[[str], float]:
    """Times one training step of a copy of `method` (forward, backward, Adam) on one batch."""
    made: list = []  # the copy and its optimizer, made at the first call (no copy when no probe runs)

    def run(precision: str) -> float:
        if not made:
            probe = copy.deepcopy(method).train()
            made.extend([probe, torch.optim.Adam([p for p in probe.parameters() if p.requires_grad], lr=1e-6)])
        probe, optimizer = made
        tic = time.perf_counter()
        with autocast(frames.device, precision):
            loss, _ = probe(frames, mask=mask, t_in=t_in)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(frames.device)
        return time.perf_counter() - tic

    return run


def bank_timer(bank, frames: torch.Tensor, mask: torch.Tensor, t_in: int) -> Callable[[str], float]:
    """Times one collection of the memory bank's source memories for one batch."""
    def run(precision: str) -> float:
        kept, bank.precision = bank.precision, precision
        try:
            tic = time.perf_counter()
            bank.collect(frames, t_in=t_in, mask=mask)
            _sync(frames.device)
            return time.perf_counter() - tic
        finally:
            bank.precision = kept

    return run


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def save_choice(path: Path, choice: PrecisionChoice) -> None:
    from transmem.checkpoint import atomic_write

    text = json.dumps(choice.to_dict(), indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_choice(path: Path) -> PrecisionChoice:
    try:
        return PrecisionChoice.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path} cannot be read ({e}); delete it and resume to probe the precision again") from e
