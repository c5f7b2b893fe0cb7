"""Training configuration: dataclasses, read from YAML, overridden from the command line, saved with every result.

A key that no dataclass field knows is an error (a typo must never be silently ignored), and the command line
always wins over the file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    name: str = "mnist3"
    seed: int = 0
    train_size: int | None = None  # None: the dataset's default
    valid_size: int | None = None
    test_size: int | None = None
    fraction: float = 1.0  # share of the training set used (paper Fig. 7: 0.25 .. 2.0)
    cache_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific options, e.g. frame_size


@dataclass
class ModelConfig:
    """The target network; frame size and channels come from the data."""

    backbone: str = "convlstm"
    patch_size: int = 4
    hidden: list[int] = field(default_factory=lambda: [64, 64, 64, 64])
    kernel_size: int = 5
    peepholes: bool = False
    tmu_layers: list[int] | None = None
    # The authors' released TMU cell (layer 0 only) by default: in the flying-digits study it was the only TMU that
    # beat training from scratch; false gives the paper's text (every layer a TMU). docs/results-flying-digits.md
    released: bool = True
    # LayerNorm over the fused gate convolution (the released TMU cell has one in its TMU layer) for plain layers
    # too: false, true (every layer) or a list of layers. The control that tells the released cell's norm from
    # the transfer (docs/results-flying-digits.md)
    gate_norm: bool | list[int] = False


@dataclass
class ScheduleConfig:
    """Scheduled sampling: P(true frame as input at an output step) falls linearly from start to end."""

    start: float = 1.0
    end: float = 0.0
    decay_fraction: float = 0.625  # share of training over which it falls (reference: 50k of 80k iterations)
    reverse: bool = False  # reverse scheduled sampling (PredRNN-V2): input steps too, from predictions to truth
    reverse_start: float = 0.5  # P(true frame) at input steps when reverse=True, rising to 1


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    method: str = "scratch"
    sources: list[str] = field(default_factory=list)  # zoo entries or checkpoint files
    # weight of the distillation loss (Eq. 6). 0.01, not the paper's 0.1: with per-element means 0.1 made the
    # distillation term outweigh the frame loss and cost accuracy in the flying-digits study (its Fig. 4 sweep)
    beta: float = 0.01
    distill_norm: str = "element"  # how each distillation error is reduced: element, channel, frame, relative
    method_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"alpha": 0.01} for L2SP
    iterations: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    lr_schedule: str = "constant"  # constant, or cosine decay to lr_min after the warm-up (training/lr_schedule.py)
    warmup_fraction: float = 0.0  # share of training over which lr rises linearly from lr / warm-up steps
    lr_min: float = 0.0  # where cosine decay ends
    grad_clip: float | None = None
    reverse_time: bool = False  # a second step on the time-reversed clip (reference implementation)
    val_every: int = 200
    val_batches: int | None = None  # None: the whole validation split
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU (bf16 is 4x slower on these CPUs)
    device: str = "auto"
    out: str = "runs/run"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join((where + '.' if where else '') + k for k in unknown)}; "
                         f"known keys{' in ' + where if where else ''}: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in data.items():
        sub = known[name].default_factory if known[name].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub()) and isinstance(value, dict):
            value = _build(type(sub()), value, f"{where}.{name}" if where else name)
        kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return _build(TrainConfig, data, "")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """A YAML file (or the defaults) with `dotted.key=value` overrides, values parsed as YAML."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override '{item}' must look like key=value (e.g. model.hidden=[32,32])")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override '{item}': '{part}' is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return config_from_dict(data)


def save_config(config: TrainConfig, path: str | Path) -> None:
    from transmem.checkpoint import atomic_write

    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
