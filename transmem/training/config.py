"""Training configuration: dataclasses, read from YAML, overridden from the command line, saved with every result.

A key that no dataclass field knows is an error (a typo must never be silently ignored), and the command line
always wins over the file.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from transmem.registry import check_choice
from transmem.training.lr_schedule import LR_SCHEDULES


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
    # beat training from scratch; false gives the paper's text (every layer a TMU). docs/results-flying-digits-500.md
    released: bool = True
    # how a TMU forms its memory C_t: "paper" (Eq. 5 as written) or "convex" (a convex combination of C~ and the
    # distilled memories, beyond the paper: Eq. 5 can grow the memory geometrically along a rollout; models/tmu.py)
    tmu_combine: str = "paper"
    # LayerNorm over the fused gate convolution (the released TMU cell has one in its TMU layer) for plain layers
    # too: false, true (every layer) or a list of layers. The control that tells the released cell's norm from
    # the transfer (docs/results-flying-digits.md)
    gate_norm: bool | list[int] = False
    # the savp backbone's latent map: channels Z (null: 8) and its posterior / prior networks' width (null: 32)
    latent_channels: int | None = None
    latent_hidden: int | None = None


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
    # a stochastic target (savp, transmem/models/savp.py): weight of KL(q || p), nats per latent element against the
    # per-pixel frame loss (not tuned), and of the adversarial term; lambda_adv > 0 turns the clip GAN on
    lambda_kl: float = 1e-3
    lambda_adv: float = 0.0
    method_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"alpha": 0.01} for L2SP
    iterations: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    # cosine decay to lr_min after a linear warm-up (training/lr_schedule.py), or constant. Cosine is the default: at
    # the converged flying-digits scale it ended 1.8 % better than constant and flat, where constant drifted up
    # (docs/results-flying-digits.md); the paper-scale configs keep the paper's constant rate
    lr_schedule: str = "cosine"
    warmup_fraction: float = 0.02  # share of training over which lr rises linearly from lr / warm-up steps
    lr_min: float = 0.0  # where cosine decay ends
    grad_clip: float | None = None
    reverse_time: bool = False  # a second step on the time-reversed clip (reference implementation)
    val_every: int = 200
    val_batches: int | None = None  # None: the whole validation split
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    precision: str = "auto"  # auto: bf16 on CUDA; on a CPU measured by a probe at start (training/precision.py)
    device: str = "auto"
    out: str = "runs/run"

    def to_dict(self) -> dict[str, Any]:
        """Every key, except keys added after runs were committed while they hold their defaults (LATER_KEYS, and
        the stochastic backbone's keys of a deterministic target): the saved config of such a run reads as it did
        before, so the run folders, checkpoints and committed study results that compare configs key by key still
        match (reading fills the defaults in)."""
        d = asdict(self)
        from transmem.registry import BACKBONES

        stochastic = self.model.backbone in BACKBONES and BACKBONES.get(self.model.backbone).stochastic
        for section, key in LATER_KEYS + (() if stochastic else STOCHASTIC_KEYS):
            node = d[section] if section else d
            if node[key] == _default(ModelConfig if section else TrainConfig, key):
                node.pop(key)
        return d

    def check(self) -> None:
        """Values the types allow but training cannot use, refused with the key and what it accepts. Names that
        registries own (method, backbone, dataset) are checked where they are looked up, with the list of names."""
        from transmem.models.tmu import COMBINES
        from transmem.training.objective import DISTILL_NORMS
        from transmem.training.precision import PRECISIONS

        choices = {"lr_schedule": LR_SCHEDULES, "distill_norm": DISTILL_NORMS, "precision": PRECISIONS}
        for key, allowed in choices.items():
            check_choice(key, getattr(self, key), allowed)
        check_choice("model.tmu_combine", self.model.tmu_combine, COMBINES)
        positive = {"iterations": self.iterations, "batch_size": self.batch_size, "lr": self.lr,
                    "val_every": self.val_every, "log_every": self.log_every, "checkpoint_every": self.checkpoint_every,
                    "model.patch_size": self.model.patch_size, "model.kernel_size": self.model.kernel_size}
        for key, value in positive.items():
            if value <= 0:
                raise ValueError(f"{key} must be > 0, got {value}")
        ranges = {"beta": (self.beta, 0, None), "lr_min": (self.lr_min, 0, None),
                  "lambda_kl": (self.lambda_kl, 0, None), "lambda_adv": (self.lambda_adv, 0, None),
                  "warmup_fraction": (self.warmup_fraction, 0, 1), "data.fraction": (self.data.fraction, 0, 2)}
        for key, (value, low, high) in ranges.items():
            if value < low or (high is not None and value > high):
                raise ValueError(f"{key} must be in [{low}, {high if high is not None else 'inf'}], got {value}")
        if self.model.kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size must be odd (the state keeps its size), got {self.model.kernel_size}")
        if not self.model.hidden or any(h <= 0 for h in self.model.hidden):
            raise ValueError(f"model.hidden must be a non-empty list of positive widths, got {self.model.hidden}")


STOCHASTIC_KEYS = (("", "lambda_kl"), ("", "lambda_adv"), ("model", "latent_channels"), ("model", "latent_hidden"))
LATER_KEYS = (("model", "tmu_combine"),)


def _default(cls, key: str) -> Any:
    f = next(f for f in fields(cls) if f.name == key)
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(str(k) for k in set(data) - set(known))  # YAML may give int, float, bool or None keys
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join((where + '.' if where else '') + k for k in unknown)}; "
                         f"known keys{' in ' + where if where else ''}: {', '.join(sorted(known))}")
    kwargs = {}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        sub = known[name].default_factory if known[name].default_factory is not dataclasses.MISSING else None
        if sub is not None and dataclasses.is_dataclass(sub()):
            value = _build(type(sub()), value, key)
        elif isinstance(value, str) and _fits(1.0, hints[name]) and not _fits(value, hints[name]):
            value = _number(value, key)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if not _fits(value, hints[name]):
            raise ValueError(f"config key {key} must be {_describe(hints[name])}, got {value!r} "
                             f"({type(value).__name__})")
        kwargs[name] = float(value) if hints[name] is float and isinstance(value, int) else value
    return cls(**kwargs)


def _number(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"config key {key} must be a number, got {text!r}") from None


def _fits(value: Any, hint) -> bool:
    """Whether a YAML value fits a field's annotation (bool is not an int here; an int is a fine float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(args[0], _describe(args[0]))
    return {type(None): "null", int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a mapping"}.get(origin or hint, str(hint))


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    config = _build(TrainConfig, data, "")
    config.check()
    return config


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
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"override '{item}': the value is not valid YAML ({str(err).splitlines()[0]}); "
                             "quote lists and mappings whole, e.g. model.hidden=[32,32]") from None
    return config_from_dict(data)


def save_config(config: TrainConfig, path: str | Path) -> None:
    from transmem.checkpoint import atomic_write

    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
