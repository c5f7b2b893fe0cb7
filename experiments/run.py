"""Run a study: train what STUDY.yaml lists that has no committed result, keep each finished run's compact result in
the repository, and write the study's tables and figures from those files alone.

    python experiments/run.py experiments/flying_digits/study.yaml                    # everything not done yet
    python experiments/run.py STUDY.yaml --only table --match scratch finetune        # some runs of some groups
    python experiments/run.py STUDY.yaml --dry-run                                    # plan, state, estimated hours
    python experiments/run.py STUDY.yaml --report-only                                # tables and figures, no training
    python experiments/run.py STUDY.yaml --only table --commit                         # git-commit each result at once
    python experiments/run.py STUDY.yaml --only table --sources-only                   # just the sources it needs
    python experiments/run.py STUDY.yaml --real kth-synth=/data/kth                    # on real files (results-real/)

A run's result is `<study folder>/results/<run>-s<seed>.json` (resolved config, test metrics, validation and training
curves, transfer-gate averages, a predicted test sequence and its gate maps over time, a stochastic run's best of N
samples, wall and step time, the machine). A run with a result file
is never trained again, on any clone; one whose result file holds other settings is an error, never overwritten.
Checkpoints stay in the study's workdir (not committed); an interrupted run resumes from its last checkpoint. Sources
a study needs are taken from the repository's zoo/ or pretrained into it (commit them with their cards).

Each run is a `transmem train` subprocess with OMP_NUM_THREADS=--threads, and --jobs defaults to the cores over
--threads (never oversubscribed); on a 2-core CPU two one-thread runs side
by side train about 1.4x faster in total than one two-thread run after the other.
"""
from __future__ import annotations

import argparse
import base64
import csv
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDY_KEYS = {"base", "workdir", "report", "zoo", "sources", "groups", "title", "sample_sequence", "samples", "real"}
# Step time of each backbone against ConvLSTM's (docs/performance.md, demo configuration, batch 16; savp: its
# generator plus the prior and posterior ConvLSTMs, an estimate until a study has measured it)
BACKBONE_COST = {"convlstm": 1.0, "predrnn": 2.0, "mim": 2.9, "savp": 2.0}
SAME_MACHINE = ("cpu", "cpu_model", "cpu_flags", "threads")  # what must match for a committed step time to count here
DEFAULT_SAMPLES = 100  # futures drawn per test sequence for a stochastic run's best-of-N row (the paper's Table 3)
GROUP_KEYS = {"seeds", "runs", "base", "set", "title", "table", "reference", "note"}


class StudyError(ValueError):
    """A study file or a result file that does not fit; the message names the file and the fix."""


@dataclass
class Run:
    group: str
    name: str  # <run>-s<seed>: the result file's stem and the run folder's name
    label: str
    seed: int
    base: str  # config file the run starts from, relative to the repository
    overrides: list[str]  # `--set` values on top of it
    config: dict  # the resolved config without its output folder
    folder: Path  # checkpoints and logs (workdir; not committed)
    result_path: Path  # <study folder>/results/<name>.json (committed)

    @property
    def key(self) -> str:
        return json.dumps(self.config, sort_keys=True)

    @property
    def run_name(self) -> str:
        return self.name.rsplit("-s", 1)[0]


@dataclass
class Study:
    path: Path
    spec: dict
    runs: list[Run]  # every run of every group, in the file's order; equal configs share one result

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def results(self) -> Path:
        """Where the compact results live: results/ beside the study file (results-real/ on real files)."""
        return self.folder / ("results-real" if self.spec.get("real_roots") else "results")

    @property
    def report_dir(self) -> Path:
        return ROOT / self.spec["report"]

    @property
    def workdir(self) -> Path:
        return ROOT / self.spec["workdir"]

    @property
    def zoo(self) -> Path:
        """Where sources are looked up and pretrained into: the repository's zoo/ unless the study names another."""
        return ROOT / self.spec.get("zoo", "zoo")


def shown(path: Path) -> str:
    """A path as printed: relative to the repository when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# -- the plan ---------------------------------------------------------------------------------------------------
def _sets(settings: dict) -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in settings.items()]


def _resolved(base: str, overrides: list[str]) -> dict:
    from transmem.training.config import load_config

    config = load_config(ROOT / base, overrides).to_dict()
    config.pop("out")
    return config


REAL_SIZES = {"data.train_size": None, "data.valid_size": None, "data.test_size": None}  # every window the reader finds


def real_data(spec: dict, path: Path, roots: dict[str, str]) -> None:
    """`--real STAND-IN=DIR`: the study on the real files. Every run and source on a stand-in the study's `real`
    maps to a reader reads DIR with that reader instead, each split all the windows the reader finds there (a
    stand-in's sizes need not exist in the real set). Sources so swapped are renamed <name>-real, so that a run on
    them never shares a result with one on the stand-in; results, report, run folders and the zoo move aside
    (results-real/, <report>-real, <workdir>-real, <workdir>-real/zoo), so that nothing synthetic is mixed in or
    overwritten."""
    readers = spec.get("real") or {}
    unknown = sorted(set(roots) - set(readers))
    if unknown:
        raise StudyError(f"{path}: --real {', '.join(unknown)}: the study maps only "
                         f"{', '.join(sorted(readers)) or 'no stand-in'} to a reader of real files (its 'real' key)")
    for standin, root in roots.items():
        if not Path(root).is_dir():
            raise StudyError(f"--real {standin}={root}: no such folder; give the folder that holds the "
                             f"{readers[standin]} files (docs/data.md)")
    spec["real_roots"] = {k: str(Path(v).resolve()) for k, v in roots.items()}
    spec["workdir"] = spec["workdir"].rstrip("/") + "-real"
    spec["report"] = spec["report"].rstrip("/") + "-real"
    spec["zoo"] = spec["workdir"] + "/zoo"  # models of the user's data stay with the user's runs
    renamed, sources = {}, {}
    for name, recipe in spec["sources"].items():
        if recipe["dataset"] in roots:
            root = spec["real_roots"][recipe["dataset"]]
            sets = {**recipe.get("set", {}), "data.options.root": root, **REAL_SIZES}
            recipe = {**recipe, "dataset": readers[recipe["dataset"]], "set": sets}
            renamed[name] = f"{name}-real"
        sources[renamed.get(name, name)] = recipe
    spec["sources"], spec["real_sources"] = sources, renamed


def _swap_to_real(config: dict, spec: dict) -> list[str]:
    """The overrides that put a resolved run on the real files: its dataset, if swapped, and its sources' names."""
    out = []
    name = config["data"]["name"]
    if name in spec.get("real_roots", {}):
        out += [f"data.name={json.dumps(spec['real'][name])}",
                f"data.options.root={json.dumps(spec['real_roots'][name])}", *_sets(REAL_SIZES)]
    renamed = spec.get("real_sources", {})
    if any(s in renamed for s in config["sources"]):
        out.append(f"sources={json.dumps([renamed.get(s, s) for s in config['sources']])}")
    start = config.get("method_options", {}).get("init_from")
    if start in renamed:
        out.append(f"method_options.init_from={json.dumps(renamed[start])}")
    return out


def load_study(path: str | Path, real: dict[str, str] | None = None) -> Study:
    """Read and check a study file, and resolve every run's config (a bad setting fails here, before training);
    `real` maps stand-ins to folders of real files (see `real_data`)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise StudyError(f"{path}: no such study file")
    spec = yaml.safe_load(path.read_text()) or {}
    missing = {"base", "workdir", "report", "groups"} - set(spec)
    unknown = set(spec) - STUDY_KEYS
    if missing or unknown:
        raise StudyError(f"{path}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}; "
                         f"a study has {sorted(STUDY_KEYS)}")
    spec.setdefault("sources", {})
    if real:
        real_data(spec, path, real)
    runs, first_with_key = [], {}
    results = Study(path, spec, runs).results
    for group, g in spec["groups"].items():
        bad = set(g) - GROUP_KEYS
        if bad or "runs" not in g or "seeds" not in g:
            raise StudyError(f"{path}: group '{group}' needs 'seeds' and 'runs' (unknown keys {sorted(bad)}; "
                             f"a group has {sorted(GROUP_KEYS)})")
        base = g.get("base", spec["base"])
        for name, settings in g["runs"].items():
            settings = dict(settings or {})
            label = settings.pop("label", name)
            for seed in g["seeds"]:
                overrides = _sets(g.get("set", {})) + _sets(settings) + [f"seed={seed}"]
                try:
                    config = _resolved(base, overrides)
                    swap = _swap_to_real(config, spec)
                    if swap:
                        overrides += swap
                        config = _resolved(base, overrides)
                except (ValueError, TypeError, KeyError) as e:
                    raise StudyError(f"{path}: group '{group}', run '{name}': {e}") from None
                run = Run(group, f"{name}-s{seed}", label, seed, base, overrides, config,
                          ROOT / spec["workdir"] / f"{name}-s{seed}", results / f"{name}-s{seed}.json")
                runs.append(run)
                first_with_key.setdefault(run.key, []).append(run)
    for same in first_with_key.values():  # equal configs: one result, the committed one's or the first listed
        owner = next((r for r in same if r.result_path.is_file()), same[0])
        for r in same:
            r.folder, r.result_path = owner.folder, owner.result_path
    return Study(path, spec, runs)


def state(run: Run) -> str:
    """done (result committed), finished (trained, result not yet written), partial (resumable) or new."""
    if run.result_path.is_file():
        saved = json.loads(run.result_path.read_text())["config"]
        if json.dumps(saved, sort_keys=True) != run.key:
            changed = sorted(k for k in set(saved) | set(run.config) if saved.get(k) != run.config.get(k))
            raise StudyError(f"{run.result_path} holds a run with other settings (they differ in {', '.join(changed)}); "
                             "give the run another name in the study file, or delete the result to train it again")
        return "done"
    if (run.folder / "results.json").is_file():
        return "finished"
    return "partial" if (run.folder / "last.safetensors").is_file() else "new"


def relative_cost(config: dict) -> float:
    """Training time in plain ConvLSTM steps. A memory-transfer target is a TMU network whose distillers and gates
    cost about 0.17 of a step per source, even at beta 0; distilling runs each source too (about 0.5 of a step each);
    knowledge flow and ART run their sources alone. Other backbones cost BACKBONE_COST times a ConvLSTM step.
    Fitted to committed step times (AMD EPYC): flying digits M = 2 at 2.6 plain steps, radar M = 2 / 4 at 2.1 / 3.3,
    the radar beta-0 TMU with M = 4 at about half its M = 4 memory transfer."""
    sources = len(config["sources"]) if config["method"] in ("memory-transfer", "knowledge-flow", "art") else 0
    heads = sources if config["method"] == "memory-transfer" else 0
    if config["method"] == "memory-transfer" and config.get("beta", 1) == 0:
        sources = 0  # beta 0 never runs its sources, but the TMU network keeps its distillers and gates
    backbone = BACKBONE_COST.get(config["model"]["backbone"], 1.0)
    return config["iterations"] * (1 + 0.17 * heads + 0.5 * sources) * (2 if config.get("reverse_time") else 1) * backbone


def seconds_per_plain_step(study: Study, threads: int = 1) -> tuple[float, str]:
    """From the committed results: median time of a plain ConvLSTM step (scratch, finetune and L2SP runs, each step
    time over its backbone's BACKBONE_COST), and where it comes from. Runs on this CPU (SAME_MACHINE) at this thread
    count are preferred: AMD EPYCs here differ up to 2.3x. 0.3 s (a 10 -> 10 flying-digits step on a fast one) when
    there are none yet."""
    here = machine(threads)
    times, same = [], []
    for r in study.runs:  # plain: no sources run and no TMU network (a beta-0 TMU costs more than its backbone)
        if r.result_path.is_file() and r.config["method"] in ("scratch", "finetune", "l2sp"):
            result = json.loads(r.result_path.read_text())
            if not result.get("train_s_per_batch"):
                continue
            t = result["train_s_per_batch"] / BACKBONE_COST.get(r.config["model"]["backbone"], 1.0)
            times.append(t)
            there = result.get("machine") or {}
            if all(there.get(k) == here[k] for k in SAME_MACHINE):
                same.append(t)
    if same:
        return statistics.median(same), f"from {len(same)} committed run(s) on this CPU at {threads} thread(s)"
    if times:
        return statistics.median(times), (f"from {len(times)} committed run(s) on other CPUs or thread counts; "
                                           "this machine may be faster or slower")
    return 0.3, "a guess: no committed run yet"


def step_kind(config: dict) -> str:
    """What a step's time depends on: the method, how many sources it runs, whether a memory transfer distils at all
    (beta 0 runs no source), its other options (a finetuned TMU network, selective distillation), the whole
    network, the data's frames, the batch and a GAN term. Seeds, data fractions, learning rates, the source a target
    starts from, beta's schedule and run lengths do not change it."""
    beta0 = config["method"] == "memory-transfer" and config.get("beta", 1) == 0
    data = config.get("data", {})
    options = {k: v for k, v in (config.get("method_options") or {}).items() if k not in ("init_from", "beta_decay")}
    return json.dumps([config["method"], len(config.get("sources") or []), beta0, options, config.get("model"),
                       data.get("name"), data.get("options"), config.get("batch_size"), config.get("reverse_time"),
                       config.get("precision"), config.get("lambda_adv")], sort_keys=True)


def measured_step_seconds(study: Study, threads: int = 1) -> dict[str, float]:
    """step_kind -> median s/step of the committed runs of that kind on this CPU (SAME_MACHINE) at this thread count:
    a measured time beats relative_cost's model, which is off by up to 1.5x for the TMU rows."""
    here, times = machine(threads), {}
    for r in study.runs:
        if r.result_path.is_file():
            result = json.loads(r.result_path.read_text())
            there = result.get("machine") or {}
            if result.get("train_s_per_batch") and all(there.get(k) == here[k] for k in SAME_MACHINE):
                kind = step_kind(result.get("config") or r.config)  # one entry per result file, shared or not
                times.setdefault(kind, {})[r.result_path] = result["train_s_per_batch"]
    return {kind: statistics.median(by_run.values()) for kind, by_run in times.items()}


# -- training ---------------------------------------------------------------------------------------------------
def machine(threads: int) -> dict:
    import torch

    from transmem.machine import cpu_flags, cpu_model, cpu_name

    # the family/model numbers and the flags tell CPUs of one name apart: three "AMD EPYC" machines here trained the
    # same steps up to 2.3x apart (results committed before cpu_model was recorded count as another machine)
    return {"cpu": cpu_name(), "cpu_model": cpu_model(), "cpu_flags": list(cpu_flags()), "cores": os.cpu_count(),
            "threads": threads, "torch": torch.__version__, "python": platform.python_version()}


def _call(what: str, command: list[str], log: Path, threads: int) -> bool:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    tic = time.perf_counter()
    print(f"start {what}  (log: {shown(log)})", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        code = subprocess.call(command, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    print(f"{'done ' if code == 0 else 'FAILED'} {what}  ({time.perf_counter() - tic:.0f} s)", flush=True)
    return code == 0


def _claim(lock: Path) -> bool:
    """Take a run for this process (a lock file holding its pid); False while another live process holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False
        except (ProcessLookupError, ValueError):  # its runner died: the lock is stale
            lock.unlink(missing_ok=True)
            return _claim(lock)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def source_config(study: Study, name: str) -> dict:
    """The resolved training config of a source the study describes (what `transmem pretrain` will be given)."""
    recipe = study.spec["sources"][name]
    return _resolved(recipe.get("base", study.spec["base"]),
                     _sets(recipe.get("set", {})) + [f"data.name={json.dumps(recipe['dataset'])}"])


def check_zoo_source(study: Study, name: str) -> None:
    """A source already in the zoo must be the one the study's recipe describes: same dataset, data options and
    network (keys both know), or the study would silently transfer from another model."""
    card = json.loads((study.zoo / name / "card.json").read_text()).get("config", {})
    want = json.loads(json.dumps(source_config(study, name)))  # tuples as the card's lists
    pairs = [("data.name", card.get("data", {}).get("name"), want["data"]["name"])]
    have_options = card.get("data", {}).get("options", {})
    pairs += [(f"data.options.{k}", have_options.get(k), v) for k, v in want["data"]["options"].items()]
    have_model = card.get("model", {})
    pairs += [(f"model.{k}", have_model[k], v) for k, v in want["model"].items() if k in have_model]
    for key, have, wanted in pairs:
        if have != wanted:
            raise StudyError(f"{shown(study.zoo / name)} was trained with {key}={have!r}, but the study's recipe for "
                             f"'{name}' gives {wanted!r}: delete {shown(study.zoo / name)} to pretrain it again, or "
                             "give the recipe another name")


def ensure_sources(study: Study, names: set[str], threads: int, jobs: int, commit: bool) -> None:
    """Pretrain into the study's zoo the sources the runs need that it does not hold yet, side by side; check the
    ones it holds against their recipes."""
    zoo = study.zoo
    missing = sorted(n for n in names if not (zoo / n / "model.safetensors").is_file())
    for name in sorted(set(names) - set(missing)):
        if name in study.spec["sources"] and (zoo / name / "card.json").is_file():
            check_zoo_source(study, name)
    for name in missing:
        if name not in study.spec["sources"]:
            raise StudyError(f"{study.path}: a run uses source '{name}', which is neither in {zoo} nor described "
                             "under 'sources'")

    def one(name: str) -> None:
        recipe = study.spec["sources"][name]
        out = study.workdir / f"pretrain-{name}"
        command = [sys.executable, "-m", "transmem", "pretrain", "--config", str(ROOT / recipe.get("base", study.spec["base"])),
                   "--dataset", recipe["dataset"], "--name", name, "--zoo", str(zoo), "--out", str(out),
                   "--no-progress", *[x for s in _sets(recipe.get("set", {})) for x in ("--set", s)]]
        if (out / "last.safetensors").is_file():
            command.append("--resume")
        elif out.exists():  # the logs of a run killed before its first checkpoint
            command.append("--overwrite")
        if _claim(out.with_suffix(".lock")):
            try:
                if _call(f"pretrain {name}", command, out.with_suffix(".log"), threads):
                    write_source_result(study, name, out, threads, commit)
            finally:
                out.with_suffix(".lock").unlink(missing_ok=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, missing))
    still = [n for n in names if not (zoo / n / "model.safetensors").is_file()]
    if still:
        raise SystemExit(f"sources not made: {', '.join(still)} (see their logs under {study.workdir})")


def write_source_result(study: Study, name: str, out: Path, threads: int, commit: bool) -> None:
    r = json.loads((out / "results.json").read_text())
    doc = {"name": name, "kind": "source", "config": r["config"], "test": r["test"], "best": r["best"],
           "train_s_per_batch": r.get("train_s_per_batch"), "elapsed_s": r["elapsed_s"],
           "valid_curve": _read_csv(out / "valid.csv", ("step", "mse", "ssim")), "machine": machine(threads)}
    path = study.results / f"source-{name}.json"
    _write_json(path, doc)
    if commit:  # a study on real files keeps its sources in its (ignored) workdir: only the result is committed
        zoo = [] if study.spec.get("real_roots") else [study.zoo / name]
        _git_commit([path, *zoo], f"{study.folder.name}: source {name}")


def train(study: Study, todo: list[Run], threads: int, jobs: int, commit: bool) -> list[str]:
    """Train (or resume) every run of `todo`, longest first, `jobs` at a time; write each result as it finishes."""
    zoo = study.zoo
    failed, trained = [], []

    def one(run: Run) -> None:
        lock = run.folder.with_suffix(".lock")
        if not _claim(lock):
            print(f"skip  {run.name}  (another runner is training it)", flush=True)
            return
        try:
            now = state(run)
            if now in ("new", "partial"):
                command = [sys.executable, "-m", "transmem", "train", "--config", str(ROOT / run.base),
                           *[x for s in run.overrides for x in ("--set", s)], "--out", str(run.folder),
                           "--zoo", str(zoo), "--no-progress", *(["--resume"] if now == "partial" else []),
                           *(["--overwrite"] if now == "new" and run.folder.exists() else [])]  # logs, no checkpoint
                (run.folder.parent).mkdir(parents=True, exist_ok=True)
                if not _call(run.name, command, run.folder.with_suffix(".log"), threads):
                    failed.append(f"{run.name} (see {run.folder.with_suffix('.log')})")
                    return
                trained.append(run.name)
            if state(run) == "finished":
                write_result(run, threads, study.spec.get("sample_sequence", 0),
                             study.spec.get("samples", DEFAULT_SAMPLES))
                if commit:
                    _git_commit([run.result_path], f"{study.folder.name}: {run.name}")
        finally:
            lock.unlink(missing_ok=True)

    todo = sorted(todo, key=lambda r: -relative_cost(r.config))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, todo))
    hours = (time.perf_counter() - started) / 3600
    if trained and hours > 0:  # runs that were only written up (trained before) do not count
        print(f"{len(trained)} run(s) trained in {hours:.2f} h: {len(trained) / hours:.1f} runs per hour, {jobs} side "
              "by side", flush=True)
    return failed


# -- the compact result -----------------------------------------------------------------------------------------
def _read_csv(path: Path, fields: tuple[str, ...]) -> dict[str, list]:
    rows = list(csv.DictReader(open(path))) if path.is_file() else []
    return {f: [float(r[f]) if r.get(f) not in (None, "") else None for r in rows] for f in fields}


def _as_uint8(frames) -> dict:
    import numpy as np

    array = (np.clip(np.asarray(frames, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    return {"shape": list(array.shape), "uint8": base64.b64encode(array.tobytes()).decode()}


def from_uint8(item: dict):
    import numpy as np

    return np.frombuffer(base64.b64decode(item["uint8"]), dtype=np.uint8).reshape(item["shape"]).astype(np.float32) / 255


def prediction_sample(net, data, index: int = 0) -> dict:
    """Test sequence `index` (the study's `sample_sequence`, e.g. a stormy one): inputs, truth and the model's
    prediction, as uint8 (a few kB)."""
    import torch

    if index >= len(data):
        raise StudyError(f"sample_sequence {index} is past the {len(data)} test sequences; pick a smaller one")
    clip = torch.from_numpy(data.frames[index : index + 1, : data.t_in + data.t_out])
    with torch.no_grad():
        noise = {"generator": torch.Generator().manual_seed(0)} if getattr(net, "stochastic", False) else {}
        pred = net.predict(clip[:, : data.t_in], horizon=data.t_out, **noise).float().clamp(0, 1)  # savp: seed 0
    return {"input": _as_uint8(clip[:, : data.t_in]), "truth": _as_uint8(clip[:, data.t_in :]), "prediction": _as_uint8(pred)}


def gate_names(net, meta: dict) -> list[str] | None:
    """The sources a TMU network's gates belong to; None for a network without gates."""
    from transmem.models.network import PredictiveNet

    if not isinstance(net, PredictiveNet) or net.config.n_sources == 0:
        return None
    return meta.get("sources") or [f"source{m}" for m in range(net.config.n_sources)]


def sample_gate_maps(net, data, names: list[str], index: int = 0) -> dict:
    """The transfer-gate maps over time of test sequence `index` (the prediction sample's), as uint8: per TMU layer
    (steps, sources, h, w), channel-averaged. Kept in the result, so that gate maps over time can be drawn when the
    run folder is gone."""
    from transmem.data.base import SequenceData
    from transmem.evaluation.gates import gate_statistics

    one = SequenceData(data.name, data.split, data.frames[index : index + 1], data.t_in, data.t_out, data.info)
    _, maps = gate_statistics(net, one, batch_size=1)
    return {"sources": names, "layers": {str(k): _as_uint8(v) for k, v in sorted(maps.items())}}


def sampled_test(net, data, samples: int) -> dict:
    """A stochastic run's test scores over `samples` futures per sequence (seed 0): {"samples", "seed", "best",
    "mean"} (evaluation/samples.py)."""
    from transmem.evaluation.samples import evaluate_samples

    r = evaluate_samples(net, data, samples=samples, seed=0)
    return {"samples": samples, "seed": 0, "best": r["best"], "mean": r["mean"]}


def checkpoint_parts(checkpoint: Path, sample_sequence: int, samples: int) -> dict:
    """What a result keeps of its best checkpoint, from one load of it and of its test split: the transfer-gate
    averages, each layer's memory scale over the rollout (of a target network; None for the models of knowledge
    flow and ART, whose predictors wrap theirs), the prediction sample and its gate maps, and a stochastic run's
    best of `samples`."""
    from transmem.evaluation.evaluate import dataset_for_model
    from transmem.evaluation.gates import gate_summary
    from transmem.evaluation.memory import memory_summary
    from transmem.models.network import PredictiveNet
    from transmem.training.predictor import load_predictor

    net, meta = load_predictor(checkpoint)
    data = dataset_for_model(meta, "test")
    names = gate_names(net, meta)
    return {"gates": gate_summary(net, data, names) if names else None,
            "memory": memory_summary(net, data) if isinstance(net, PredictiveNet) else None,
            "sample": prediction_sample(net, data, sample_sequence),
            "sample_gates": sample_gate_maps(net, data, names, sample_sequence) if names else None,
            "test_samples": sampled_test(net, data, samples) if getattr(net, "stochastic", False) else None}


def write_result(run: Run, threads: int, sample_sequence: int = 0, samples: int = DEFAULT_SAMPLES) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    r = json.loads((run.folder / "results.json").read_text())
    best = run.folder / "best.safetensors"
    doc = {
        "name": run.name, "group": run.group, "label": run.label, "seed": run.seed,
        "config": run.config,
        "test": r["test"], "best": r["best"],
        "params_train": r["params_train"], "params_test": r["params_test"],
        "train_s_per_batch": r["train_s_per_batch"],
        "elapsed_s": r["elapsed_s"],
        "precision": r.get("precision"),  # what the run trained in (runs before precision.json: None)
        "valid_curve": _read_csv(run.folder / "valid.csv", ("step", "mse", "ssim")),
        "train_curve": _read_csv(run.folder / "log.csv", ("step", "loss", "frame", "distill", "lr")),
        **(checkpoint_parts(best, sample_sequence, samples) if best.is_file()
           else dict.fromkeys(("gates", "memory", "sample", "sample_gates", "test_samples"))),
        "sample_sequence": sample_sequence,
        "machine": machine(threads),
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_json(run.result_path, doc)
    print(f"wrote {shown(run.result_path)}  (test MSE {r['test']['mse']:.2f})", flush=True)
    return doc


def _write_json(path: Path, doc: dict) -> None:
    from transmem.checkpoint import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


_GIT = threading.Lock()  # two runs finishing together must not race for git's index lock


def _git_commit(paths: list[Path], message: str) -> None:
    """Commit just these paths (the rest of the index is left alone); a failure is reported, never fatal."""
    with _GIT:
        _git_commit_now(paths, message)


def _git_commit_now(paths: list[Path], message: str) -> None:
    names = [shown(p) for p in paths]
    add = subprocess.run(["git", "add", "--", *names], cwd=ROOT, capture_output=True, text=True)
    done = add.returncode == 0 and subprocess.run(["git", "commit", "-q", "-m", message, "--", *names], cwd=ROOT,
                                                  capture_output=True, text=True).returncode == 0
    print(f"{'committed' if done else 'could not commit'} {', '.join(names)}", flush=True)


# -- the command ------------------------------------------------------------------------------------------------
def write_report(study: Study) -> Path:
    """The generic tables (report_common.py), then the study's own report.py beside its study file, if any, then
    the source ranking where the study keeps one."""
    sys.path.insert(0, str(Path(__file__).parent))
    from report_common import source_ranking, write_tables

    results = {r.name: json.loads(r.result_path.read_text()) for r in study.runs if r.result_path.is_file()}
    parts = write_tables(study, results)
    own = study.folder / "report.py"
    if own.is_file():
        spec = importlib.util.spec_from_file_location(f"{study.folder.name}_report", own)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        parts = module.write_report(study, results, parts)
    parts += source_ranking(study)  # where the study keeps a ranking.json
    study.report_dir.mkdir(parents=True, exist_ok=True)
    (study.report_dir / "tables.md").write_text("\n".join(parts) + "\n")
    print(f"wrote {shown(study.report_dir)}/tables.md ({len(results)} results)")
    return study.report_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", help="the study file, e.g. experiments/flying_digits/study.yaml")
    p.add_argument("--only", nargs="+", metavar="GROUP", help="groups to train, in this order (default: all, in the file's order)")
    p.add_argument("--match", nargs="+", metavar="TEXT", help="train only runs whose name contains one of these, or is one of them with its seed (scratch-s1)")
    p.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    p.add_argument("--jobs", type=int, help="runs side by side (default: the machine's cores / --threads, so the "
                   "cores are never oversubscribed: OpenMP threads spinning beside a busy process slow down many times)")
    p.add_argument("--commit", action="store_true", help="git-commit each result file (and new source) as it is written")
    p.add_argument("--dry-run", action="store_true", help="list the runs, their state and the estimated hours")
    p.add_argument("--report-only", action="store_true", help="train nothing; write the tables and figures")
    p.add_argument("--sources-only", action="store_true", help="pretrain the sources the chosen runs need (into the "
                   "zoo, with their results), train no run")
    p.add_argument("--real", action="append", default=[], metavar="STAND-IN=DIR",
                   help="run the study on real files: every run and source on STAND-IN (e.g. kth-synth) reads DIR with "
                        "the reader the study's 'real' key names (e.g. kth); results go to results-real/, beside the "
                        "synthetic ones (repeat for each stand-in)")
    args = p.parse_args(argv)
    real = {}
    for item in args.real:
        standin, sep, root = item.partition("=")
        if not sep or not standin or not root:
            p.error(f"--real {item}: give STAND-IN=DIR, e.g. --real kth-synth=/data/kth")
        real[standin] = root
    cores = os.cpu_count() or 1
    if args.threads < 1 or (args.jobs is not None and args.jobs < 1):
        p.error("--jobs and --threads must be >= 1")
    args.jobs = args.jobs or max(1, cores // args.threads)
    if args.jobs * args.threads > cores:
        print(f"warning: {args.jobs} runs x {args.threads} threads oversubscribe the {cores} cores", flush=True)
    try:
        study = load_study(args.study, real)
        groups = args.only or list(study.spec["groups"])
        unknown = sorted(set(groups) - set(study.spec["groups"]))
        if unknown:
            raise StudyError(f"unknown group(s) {unknown}; {study.path.name} has: {', '.join(study.spec['groups'])}")
        chosen = [r for r in study.runs if r.group in groups
                  and (not args.match or any(text in r.run_name or text == r.name for text in args.match))]
        chosen.sort(key=lambda r: groups.index(r.group))  # --only's order is the training order (stable within a group)
        unique = list({r.key: r for r in chosen}.values())
        states = {r.key: state(r) for r in unique}
        if args.dry_run:
            return _print_plan(study, chosen, states, args.jobs, args.threads)
        if not args.report_only:
            todo = [r for r in unique if states[r.key] != "done"]
            ensure_sources(study, {s for r in todo for s in r.config["sources"]}, args.threads, args.jobs, args.commit)
            if args.sources_only:
                return 0
            failed = train(study, todo, args.threads, args.jobs, args.commit)
            if failed:
                write_report(study)
                raise SystemExit("failed: " + "; ".join(failed))
        write_report(study)
    except StudyError as e:
        raise SystemExit(f"error: {e}") from None
    return 0


def _print_plan(study: Study, chosen: list[Run], states: dict, jobs: int, threads: int) -> int:
    step, source = seconds_per_plain_step(study, threads)
    measured = measured_step_seconds(study, threads)
    hours: dict[str, list[float]] = {}  # a group's runs: each one's wall time at --threads, in hours
    seen, timed = set(), 0
    for r in chosen:
        print(f"{r.group:10s} {r.name:32s} {states[r.key]:9s} {shown(r.result_path)}")
        if states[r.key] != "done" and r.key not in seen:
            seen.add(r.key)
            kind = step_kind(r.config)
            timed += kind in measured
            seconds = r.config["iterations"] * measured[kind] if kind in measured else relative_cost(r.config) * step
            hours.setdefault(r.group, []).append(seconds / 3600)
    for group, h in hours.items():  # a lone long run takes its whole time however many jobs run side by side
        print(f"group {group}: about {sum(h) * threads:.1f} core-hours to train, {max(sum(h) / jobs, max(h)):.1f} h "
              f"of wall time with --jobs {jobs} --threads {threads}")
    print(f"{len(seen)} distinct runs to train: {timed} timed by committed runs of their kind on this CPU at {threads} "
          f"thread(s), the rest at {step:.2f} s per plain step ({source}) times relative_cost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
