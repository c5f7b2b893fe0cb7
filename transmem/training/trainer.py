"""The trainer: Adam on a method's loss with scheduled sampling, periodic validation, atomic resumable checkpoints,
CSV + TensorBoard logs, and data-parallel training when launched by torchrun.

Exact resume. The batch order and the scheduled-sampling masks of step s are drawn from generators seeded by
(seed, s), and torch's own generator is seeded by (seed, s) before the step (a stochastic backbone's latent
noise), so they need no saved state; the checkpoint holds the weights, Adam's moments and the step. A run
stopped and resumed therefore ends with the same weights as an uninterrupted run (on CPU, bit for bit).

Files in `config.out`:
    last.safetensors   everything needed to resume (method weights, optimizer, step, config)
    best.safetensors   the predictor with the best validation MSE, with its config (for evaluate / predict)
    config.yaml        the full resolved config
    log.csv, tb/       the training curves
    valid.csv          validation MSE/frame and SSIM at every validation step (the learning curve)
    results.json       test metrics of the best checkpoint, parameter counts and timings
    precision.json     the training precision and, under `auto`, the probe's times (training/precision.py)
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from transmem.checkpoint import (
    atomic_write,
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    remove_leftover_temporaries,
    save_checkpoint,
    split_prefix,
    with_prefix,
)
from transmem.data import load_dataset
from transmem.data.base import SequenceData
from transmem.evaluation.evaluate import evaluate_model
from transmem.models.network import count_parameters
from transmem.models.zoo import load_source
from transmem.registry import METHODS
from transmem.training.config import TrainConfig, save_config
from transmem.training.lr_schedule import learning_rate
from transmem.training.methods.base import Method
from transmem.training.precision import (
    PrecisionChoice,
    autocast,
    bank_timer,
    choose_precision,
    load_choice,
    save_choice,
    step_timer,
)
from transmem.training.predictor import load_predictor, save_predictor

LOG_FIELDS = ("step", "loss", "frame", "distill", "extra", "eta", "lr", "seconds")
VALID_FIELDS = ("step", "mse", "ssim")


class TrainingError(ValueError):
    """Training cannot go on (a non-finite loss, a checkpoint of another run): one line for the user."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_splits(config: TrainConfig) -> dict[str, SequenceData]:
    d = config.data
    sizes = {"train": d.train_size, "valid": d.valid_size, "test": d.test_size}
    splits = {}
    for split, size in sizes.items():
        kw = dict(size=size, seed=d.seed, cache_dir=d.cache_dir, **d.options)
        if split == "train":
            kw["fraction"] = d.fraction
        splits[split] = load_dataset(d.name, split, **kw)
    return splits


def build_method(config: TrainConfig, data: SequenceData, zoo: str | None = None,
                 valid: SequenceData | None = None) -> Method:
    """The config's method with its sources loaded. `method_options: {init_from: auto}` is resolved here to the
    source that predicts the `valid` clips best as it is (its name replaces 'auto' in the method's config, so the
    run's checkpoints and results say which source it started from)."""
    sources = [load_source(ref, zoo) for ref in config.sources]
    if config.method == "memory-transfer" and sources and config.method_options.get("init_from") == "auto":
        if valid is None:
            raise ValueError("init_from: auto chooses a source by its error on the validation split, which was not "
                             "given; name the source instead")
        from transmem.evaluation.ranking import best_by_zero_shot

        best, scores = best_by_zero_shot(sources, valid)
        if not dist.is_initialized() or dist.get_rank() == 0:
            print(f"init_from auto: {best} (zero-shot MSE/frame on the validation split: "
                  + ", ".join(f"{name} {mse:.2f}" for name, mse in scores.items()) + ")", flush=True)
        config = dataclasses.replace(config, method_options={**config.method_options, "init_from": best})
    c, h, w = data.frame_shape
    return METHODS.get(config.method)(config=config, frame_channels=c, frame_size=(h, w), sources=sources)


def _step_seed(seed: int, step: int, salt: int = 3) -> int:
    return (seed * 1_000_003 + step) * 7 + salt


def _step_generator(seed: int, step: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(_step_seed(seed, step, salt))


def batch_indices(step: int, n: int, batch: int, seed: int) -> torch.Tensor:
    """The global batch of step `step`: epochs are seeded permutations, the last partial batch dropped."""
    per_epoch = n // batch
    if per_epoch == 0:
        raise ValueError(f"the training split has {n} sequences, fewer than batch_size={batch}; lower batch_size")
    epoch, pos = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=_step_generator(seed, epoch, 1))
    return perm[pos * batch : (pos + 1) * batch]


def sampling_mask(step: int, config: TrainConfig, batch: int, t: int, t_in: int) -> tuple[torch.Tensor, float]:
    """(mask (B, T-2), eta): 1 = the true frame is the input. Output steps draw the true frame with probability eta,
    falling linearly from schedule.start to schedule.end; with schedule.reverse the input steps draw it with a
    probability rising from reverse_start to 1 (reverse scheduled sampling)."""
    s = config.schedule
    progress = min(1.0, step / max(1.0, s.decay_fraction * config.iterations))
    eta = s.start + (s.end - s.start) * progress
    g = _step_generator(config.seed, step, 2)
    mask = torch.ones(batch, t - 2)
    mask[:, t_in - 1 :] = (torch.rand(batch, t - t_in - 1, generator=g) < eta).float()
    if s.reverse:
        r = s.reverse_start + (1.0 - s.reverse_start) * progress
        mask[:, : t_in - 1] = (torch.rand(batch, t_in - 1, generator=g) < r).float()
    return mask, eta


# what a run writes into its folder: an --out holding any of them holds a run
RUN_FILES = ("last.safetensors", "best.safetensors", "results.json", "log.csv", "valid.csv", "config.yaml", "tb",
             "precision.json")


def check_out_folder(out: str | Path, *, resume: bool, overwrite: bool) -> list[str]:
    """The run files `out` already holds, or a TrainingError when they would be neither continued (resume) nor
    replaced (overwrite). Cheap, so a command calls it before it loads data or builds networks."""
    if resume and overwrite:
        raise TrainingError("pass --resume (continue the run) or --overwrite (replace it), not both")
    held = [name for name in RUN_FILES if (Path(out) / name).exists()]
    if held and not resume and not overwrite:
        raise TrainingError(f"{out} already holds a run ({', '.join(held)}); pass --resume to continue it, "
                            "--overwrite to replace it, or choose another --out")
    return held


class Trainer:
    def __init__(self, config: TrainConfig, *, zoo: str | None = None, progress: bool = True):
        self.config = config
        self.out = Path(config.out)
        self.rank, self.world = _init_distributed()
        self.device = resolve_device(config.device)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if self.device.type == "cpu":
            torch.set_flush_denormal(True)  # subnormal floats slow recurrent training on CPUs badly
        if config.batch_size % self.world:
            raise ValueError(f"batch_size {config.batch_size} must divide evenly over {self.world} processes")
        torch.manual_seed(config.seed)
        self.data = load_splits(config)
        self.init_auto = config.method_options.get("init_from") == "auto"  # a resumed run keeps its first choice
        self.method = build_method(config, self.data["train"], zoo, valid=self.data["valid"]).to(self.device)
        self.config = config = self.method.config  # init_from: auto resolved to the source's name
        self.model: torch.nn.Module = self.method
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(self.method)
        self.lr_at(0)  # a bad schedule name fails here, before any file is written
        self.optimizer = torch.optim.Adam(self.method.trainable_parameters(), lr=config.lr)
        self.progress = progress and self.rank == 0
        self.step = 0
        self.best: dict[str, Any] = {"mse": math.inf, "step": -1}
        self.step_seconds: list[float] = []
        self._elapsed_before = 0.0  # training wall time of earlier sessions of a resumed run
        self._started = time.perf_counter()
        self.precision: PrecisionChoice | None = None  # chosen in run(), where a probe can time a batch

    def lr_at(self, step: int) -> float:
        c = self.config
        return learning_rate(step, lr=c.lr, iterations=c.iterations, schedule=c.lr_schedule,
                             warmup_fraction=c.warmup_fraction, lr_min=c.lr_min)

    # -- checkpoints ------------------------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.out / "last.safetensors"

    @property
    def best_path(self) -> Path:
        return self.out / "best.safetensors"

    def save_last(self) -> None:
        if self.rank != 0:
            return
        opt_tensors, opt_meta = optimizer_to_tensors(self.optimizer)
        tensors = with_prefix(self.method.trainable_state(), "method/") | with_prefix(opt_tensors, "optim/")
        meta = {"kind": "training", "step": self.step, "best": self.best, "optimizer": opt_meta,
                "elapsed_s": self.elapsed_s,
                "config": self.config.to_dict(), "net": self.method.net.config.to_dict()}
        save_checkpoint(self.last_path, tensors, meta)

    def resume(self) -> bool:
        if not self.last_path.is_file():
            return False
        tensors, meta = load_checkpoint(self.last_path)
        if meta.get("kind") != "training":
            raise TrainingError(f"{self.last_path} is not a training checkpoint; remove it or choose another --out")
        saved = meta["config"]
        if self.init_auto:  # the weights are the checkpoint's: record the source the run started from
            first = (saved.get("method_options") or {}).get("init_from", "auto")
            self.config = dataclasses.replace(self.config, method_options={**self.config.method_options, "init_from": first})
        keys = ("data", "model", "method", "sources", "batch_size", "method_options")
        changed = sorted(k for k in keys if saved.get(k) != self.config.to_dict()[k])
        if changed:
            raise TrainingError(
                f"{self.last_path} was written with other settings ({', '.join(changed)}); "
                "resume with the same config or choose another --out"
            )
        missing, unexpected = self.method.load_state_dict(split_prefix(tensors, "method/"), strict=False)
        frozen = {k for k in missing if k not in self.method.trainable_state()}
        if unexpected or set(missing) - frozen:
            raise TrainingError(f"{self.last_path} does not fit this method's weights; choose another --out")
        optimizer_from_tensors(self.optimizer, split_prefix(tensors, "optim/"), meta["optimizer"])
        self.step, self.best = int(meta["step"]), meta["best"]
        self._elapsed_before = float(meta.get("elapsed_s", 0.0))
        return True

    @property
    def elapsed_s(self) -> float:
        """Wall time spent in run() so far, over every session of a resumed run (validation included)."""
        return self._elapsed_before + time.perf_counter() - self._started

    def save_best(self, metrics: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        meta = {"kind": "model", "method": self.config.method, "sources": self.method.source_names,
                "step": self.step, "valid": metrics, "config": self.config.to_dict()}
        save_predictor(self.best_path, self.method, meta)

    # -- the loop ---------------------------------------------------------------------------------------------
    def settle_precision(self, *, resumed: bool) -> PrecisionChoice:
        """The run's precision (training/precision.py): read back from precision.json when resuming, else chosen
        (under `auto` by a probe on the first batch) and written there; every process takes rank 0's choice."""
        path, setting = self.out / "precision.json", self.config.precision
        choice = None
        if resumed and path.is_file():
            choice = load_choice(path)
            if setting != "auto" and setting != choice.train:
                raise TrainingError(f"{path} says this run trains in {choice.train} but the config sets precision "
                                    f"{setting}; resume with precision auto or {choice.train}, or choose another --out")
        elif resumed and setting == "auto":  # a run begun before precision.json: keep the rule it started under
            train = "bf16" if self.device.type == "cuda" else "fp32"
            choice = PrecisionChoice(train, train, "auto, resumed: the run began before the probe existed")
        elif self.rank == 0 or self.device.type == "cuda":  # on CUDA the choice needs no probe
            choice = self._probe_precision()
        if self.world > 1 and self.device.type == "cpu":
            shared = [choice.to_dict() if self.rank == 0 else None]
            dist.broadcast_object_list(shared, src=0)
            choice = PrecisionChoice.from_dict(shared[0])
        if self.rank == 0:
            save_choice(path, choice)
        return choice

    def _probe_precision(self) -> PrecisionChoice:
        train, cfg = self.data["train"], self.config
        t_in, t = train.t_in, train.t_in + train.t_out
        local = cfg.batch_size // self.world
        idx = np.sort(batch_indices(0, len(train), cfg.batch_size, cfg.seed)[:local].numpy())
        frames = torch.from_numpy(train.frames[idx, :t]).to(self.device)
        mask = sampling_mask(0, cfg, cfg.batch_size, t, t_in)[0][:local].to(self.device)
        bank = getattr(self.method, "bank", None)
        with torch.random.fork_rng(devices=[]):  # the probe's random draws leave the run's untouched
            return choose_precision(cfg.precision, device=self.device,
                                    time_step=step_timer(self.method, frames, mask, t_in),
                                    time_bank=bank_timer(bank, frames, mask, t_in) if bank is not None else None)

    def train_step(self, frames: torch.Tensor, mask: torch.Tensor, t_in: int) -> dict[str, float]:
        with autocast(self.device, self.precision.train):
            loss, parts = self.model(frames, mask=mask, t_in=t_in)
        loss_value = loss.detach()
        if not torch.isfinite(loss_value):
            raise TrainingError(
                f"the loss became {loss_value.item()} at step {self.step}; the last good checkpoint {self.last_path} is "
                "kept; lower lr, set grad_clip, or check the data for bad frames"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.method.trainable_parameters(), self.config.grad_clip)
        self.optimizer.step()
        return parts

    def validate(self) -> dict[str, Any]:
        data = self.data["valid"]
        return evaluate_model(self.method.predictor(), data, batch_size=self.config.batch_size,
                              max_batches=self.config.val_batches, device=self.device,
                              shard=(self.rank, self.world))

    def run(self, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
        """Train (or continue) the run in config.out and test it. A folder that holds a run is only continued
        (resume) or replaced (overwrite: its files are deleted now, after the config, data and sources loaded)."""
        cfg, train = self.config, self.data["train"]
        held = check_out_folder(self.out, resume=resume, overwrite=overwrite)
        if held and not resume:
            if self.rank == 0:
                for name in held:
                    path = self.out / name
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                remove_leftover_temporaries(self.out)
        if self.world > 1:
            dist.barrier()  # every process has looked at the folder before rank 0 writes into it
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and self.rank == 0:
            remove_leftover_temporaries(self.out)  # a kill during a checkpoint write leaves its temporary behind
        self._started = time.perf_counter()
        resumed = self.resume() if resume else False
        if self.rank == 0:
            save_config(self.config, self.out / "config.yaml")  # after resume(): init_from as the run began
        self.precision = self.settle_precision(resumed=resumed)
        bank = getattr(self.method, "bank", None)  # memory transfer's frozen sources
        if bank is not None:
            bank.precision = self.precision.bank
        if self.progress:
            tqdm.write(f"precision: {self.precision.describe(bank=bank is not None)}")
        log = _Log(self.out, resume_from=self.step if resumed else None, enabled=self.rank == 0)
        t_in, t = train.t_in, train.t_in + train.t_out
        local = cfg.batch_size // self.world
        bar = tqdm(total=cfg.iterations, initial=self.step, disable=not self.progress, desc=cfg.method, unit="it")
        try:
            while self.step < cfg.iterations:
                tic = time.perf_counter()
                if hasattr(self.method, "set_progress"):
                    self.method.set_progress(self.step / cfg.iterations)
                idx = batch_indices(self.step, len(train), cfg.batch_size, cfg.seed)
                mask, eta = sampling_mask(self.step, cfg, cfg.batch_size, t, t_in)
                lr = self.lr_at(self.step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                torch.manual_seed(_step_seed(cfg.seed, self.step))  # the step's random draws (savp's latent noise)
                sl = slice(self.rank * local, (self.rank + 1) * local)
                frames = torch.from_numpy(train.frames[np.sort(idx[sl].numpy()), :t]).to(self.device)
                mask = mask[sl].to(self.device)
                parts = self.train_step(frames, mask, t_in)
                if cfg.reverse_time:
                    back = self.train_step(frames.flip(1), mask, t_in)
                    parts = {k: (v + back.get(k, v)) / 2 for k, v in parts.items()}
                parts = _mean_over_processes(parts, self.world)
                self.step += 1
                self.step_seconds.append(time.perf_counter() - tic)
                bar.update(1)
                bar.set_postfix(loss=f"{parts['total']:.4g}")
                if self.step % cfg.log_every == 0 or self.step == cfg.iterations:
                    log.write(self.step, parts, eta, lr, self.step_seconds[-1])
                if self.step % cfg.val_every == 0 or self.step == cfg.iterations:
                    metrics = self.validate()
                    log.validation(self.step, metrics)
                    if metrics["mse"] < self.best["mse"]:
                        self.best = {"mse": metrics["mse"], "ssim": metrics["ssim"], "step": self.step}
                        self.save_best(metrics)
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.iterations:
                    self.save_last()
        finally:
            bar.close()
            log.close()
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Test the best checkpoint and write results.json."""
        elapsed = self.elapsed_s
        predictor = load_predictor(self.best_path)[0] if self.best_path.is_file() else self.method.predictor()
        predictor.to(self.device)
        test = evaluate_model(predictor, self.data["test"], batch_size=self.config.batch_size, device=self.device,
                              shard=(self.rank, self.world))
        timing = self.step_seconds[2:] or self.step_seconds
        results = {
            "method": self.config.method,
            "sources": self.method.source_names,
            "best": self.best,
            "test": test,
            "params_train": sum(p.numel() for p in self.method.parameters()),
            "params_test": count_parameters(predictor),  # ART's predictor includes its teachers
            "train_s_per_batch": statistics.median(timing) if timing else None,
            "elapsed_s": elapsed,  # training and validation, over every session; not the test above
            "precision": self.precision.to_dict() if self.precision else None,
            "config": self.config.to_dict(),
        }
        if self.rank == 0:
            text = json.dumps(results, indent=2)
            atomic_write(self.out / "results.json", lambda tmp: Path(tmp).write_text(text))
        return results


def _init_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def shutdown_distributed() -> None:
    """Leave the process group after a torchrun job (a process exiting with gloo's threads alive can abort)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _mean_over_processes(parts: dict[str, float], world: int) -> dict[str, float]:
    if world <= 1:
        return parts
    keys = sorted(parts)
    t = torch.tensor([parts[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / world for k, v in zip(keys, t)}


class _Log:
    """log.csv (kept consistent with a resumed run: rows after the resumed step are dropped) and TensorBoard."""

    def __init__(self, out: Path, *, resume_from: int | None, enabled: bool):
        self.enabled = enabled
        if not enabled:
            return
        self.file, self.writer = _csv_log(out / "log.csv", LOG_FIELDS, resume_from)
        self.valid_file, self.valid_writer = _csv_log(out / "valid.csv", VALID_FIELDS, resume_from)
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(out / "tb"), purge_step=resume_from)

    def write(self, step: int, parts: dict[str, float], eta: float, lr: float, seconds: float) -> None:
        if not self.enabled:
            return
        known = {"total", "frame", "distill"}
        extra = sum(v for k, v in parts.items() if k not in known)
        row = {"step": step, "loss": parts["total"], "frame": parts["frame"], "distill": parts.get("distill", ""),
               "extra": extra if len(parts) > len(known & set(parts)) else "", "eta": eta, "lr": lr, "seconds": seconds}
        self.writer.writerow(row)
        self.file.flush()
        for k, v in parts.items():
            self.tb.add_scalar(f"train/{k}", v, step)
        self.tb.add_scalar("train/eta", eta, step)
        self.tb.add_scalar("train/lr", lr, step)

    def validation(self, step: int, metrics: dict[str, Any]) -> None:
        if self.enabled:
            self.valid_writer.writerow({"step": step, "mse": metrics["mse"], "ssim": metrics["ssim"]})
            self.valid_file.flush()
            self.tb.add_scalar("valid/mse", metrics["mse"], step)
            self.tb.add_scalar("valid/ssim", metrics["ssim"], step)

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.valid_file.close()
            self.tb.close()


def _csv_log(path: Path, fields: tuple[str, ...], resume_from: int | None):
    """Open a CSV log for appending, keeping the rows up to the resumed step (none for a fresh run).

    The kept rows are rewritten atomically before the file is reopened, so a run killed right after it resumed (before
    its first new row is flushed) still has its curve up to the checkpoint.
    """
    rows = []
    if resume_from is not None and path.is_file():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_from]

    def write_kept(tmp):
        with open(tmp, "w", newline="") as f:
            kept = csv.DictWriter(f, fieldnames=fields)
            kept.writeheader()
            kept.writerows(rows)

    atomic_write(path, write_kept)
    file = open(path, "a", newline="")
    return file, csv.DictWriter(file, fieldnames=fields)
