"""The flying-digits study in one command: train what study.yaml lists (reusing finished runs), then report.

    python experiments/flying_digits/run.py                    # everything, 2 runs side by side, then the report
    python experiments/flying_digits/run.py --only table beta  # some groups
    python experiments/flying_digits/run.py --only table --match scratch finetune   # some runs of some groups
    python experiments/flying_digits/run.py --dry-run          # what would run, and what is done
    python experiments/flying_digits/run.py --report-only      # tables and figures from finished runs

Each run is a `transmem train` subprocess with OMP_NUM_THREADS=--threads; on a 2-core CPU two one-thread runs side
by side train about 1.4x faster in total than one two-thread run after the other. A run whose results.json holds
the same config is reused; an interrupted one resumes from its last checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from transmem.models.zoo import list_zoo
from transmem.training.config import config_from_dict, load_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@dataclass
class Run:
    group: str
    name: str  # <name>-s<seed>
    label: str
    seed: int
    overrides: list[str]  # --set values
    key: str  # the resolved config without its folder: equal keys are one run
    folder: Path

    def command(self, base: str, zoo: Path, resume: bool) -> list[str]:
        sets = [x for item in self.overrides for x in ("--set", item)]
        return [sys.executable, "-m", "transmem", "train", "--config", base, *sets, "--out", str(self.folder),
                "--zoo", str(zoo), "--no-progress", *(["--resume"] if resume else [])]


def load_study(path: Path) -> dict:
    study = yaml.safe_load(path.read_text())
    for key in ("base", "workdir", "sources", "groups"):
        if key not in study:
            raise ValueError(f"{path}: missing '{key}'")
    return study


def _overrides(settings: dict, seed: int) -> list[str]:
    items = [f"{k}={json.dumps(v)}" for k, v in settings.items() if k != "label"]
    return items + [f"seed={seed}"]


def plan(study: dict, groups: list[str], workdir: Path) -> list[Run]:
    """Every (group, run, seed) of the chosen groups. Runs with the same config share one folder, whichever groups
    list them (all groups are looked at, so `--only` never trains again what another group already has)."""
    everything, folders = [], {}
    for group, spec in study["groups"].items():
        for name, settings in spec["runs"].items():
            for seed in spec["seeds"]:
                overrides = _overrides(settings, seed)
                config = load_config(ROOT / study["base"], overrides).to_dict()
                config.pop("out")
                key = json.dumps(config, sort_keys=True)
                folder = workdir / f"{name}-s{seed}"
                everything.append(Run(group, f"{name}-s{seed}", settings.get("label", name), seed, overrides, key, folder))
                folders.setdefault(key, []).append(folder)
    runs = [run for run in everything if run.group in groups]
    for run in runs:  # one folder per config: one that has started wins, else the first listed
        candidates = folders[run.key]
        started = [f for f in candidates if (f / "results.json").is_file() or (f / "last.safetensors").is_file()]
        run.folder = (started or candidates)[0]
    return runs


def cost(config: dict) -> float:
    """Rough relative training time: memory transfer costs about 1 + 0.65 M plain steps at the demo's scale."""
    per_step = 1 + 0.65 * len(config["sources"]) if config["method"] == "memory-transfer" else 1
    return config["iterations"] * per_step


def state(run: Run) -> str:
    """done, partial (resumable) or new; a finished run of other settings is an error, never overwritten."""
    results = run.folder / "results.json"
    if results.is_file():
        saved = config_from_dict(json.loads(results.read_text())["config"]).to_dict()
        saved.pop("out")
        if json.dumps(saved, sort_keys=True) != run.key:
            raise ValueError(f"{run.folder} holds a finished run with other settings; move it away or use --workdir")
        return "done"
    return "partial" if (run.folder / "last.safetensors").is_file() else "new"


def ensure_sources(study: dict, needed: set[str], zoo: Path, base: str, threads: int, jobs: int) -> None:
    """Copy the sources from the repository's zoo, or pretrain those it does not hold (side by side)."""
    zoo.mkdir(parents=True, exist_ok=True)
    missing = []
    for name in sorted(needed - set(list_zoo(zoo))):
        if name not in study["sources"]:
            raise ValueError(f"source '{name}' is used by a run but not described under 'sources' in study.yaml")
        shipped = ROOT / "zoo" / name
        if (shipped / "model.safetensors").is_file():
            shutil.copytree(shipped, zoo / name)
            print(f"source {name}: copied from {shipped}")
        else:
            missing.append(name)
    commands = []
    for name in missing:
        recipe = study["sources"][name]
        sets = [x for k, v in recipe.get("set", {}).items() for x in ("--set", f"{k}={json.dumps(v)}")]
        command = [sys.executable, "-m", "transmem", "pretrain", "--config", base, "--dataset", recipe["dataset"],
                   "--name", name, "--zoo", str(zoo), *sets, "--out", str(zoo.parent / f"pretrain-{name}"),
                   "--no-progress"]
        commands.append((f"pretrain {name}", lambda command=command: command, zoo.parent / f"pretrain-{name}.log"))
    _run_all(commands, threads, jobs)


def _claim(lock: Path) -> bool:
    """Take a run for this process (a lock file holding its pid); False while another live process holds it."""
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


def _run_all(commands: list[tuple], threads: int, jobs: int) -> None:
    """commands: (what, make_command, log); make_command() gives the command, or None when there is nothing to do
    any more (another runner finished it meanwhile). Each command holds <log>.lock while it runs, so two runners
    started on overlapping groups never train the same run at once."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    failed = []

    def one(item):
        what, make_command, log = item
        log.parent.mkdir(parents=True, exist_ok=True)
        lock = log.with_name(log.name + ".lock")
        if not _claim(lock):
            print(f"skip  {what}  (another runner is training it)", flush=True)
            return
        try:
            command = make_command()
            if command is None:
                print(f"skip  {what}  (finished meanwhile)", flush=True)
                return
            _call(what, command, log, env, failed)
        finally:
            lock.unlink(missing_ok=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, commands))
    if failed:
        raise SystemExit("failed: " + "; ".join(failed))


def _call(what: str, command: list[str], log: Path, env: dict, failed: list[str]) -> None:
    tic = time.perf_counter()
    print(f"start {what}  (log: {log})", flush=True)
    with open(log, "w") as f:
        code = subprocess.call(command, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    print(f"{'done ' if code == 0 else 'FAILED'} {what}  ({time.perf_counter() - tic:.0f} s)", flush=True)
    if code != 0:
        failed.append(f"{what} (see {log})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", default=str(HERE / "study.yaml"))
    p.add_argument("--only", nargs="+", metavar="GROUP", help="groups to run (default: all, in the file's order)")
    p.add_argument("--match", nargs="+", metavar="TEXT", help="train only runs whose name contains one of these")
    p.add_argument("--workdir", help="where runs go (default: the study's workdir)")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    p.add_argument("--report-dir", default=str(ROOT / "docs" / "results-flying-digits"),
                   help="where the tables and figures go (default docs/results-flying-digits)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state; train nothing")
    p.add_argument("--report-only", action="store_true", help="train nothing; write the report from finished runs")
    args = p.parse_args(argv)

    study = load_study(Path(args.study))
    groups = args.only or list(study["groups"])
    unknown = sorted(set(groups) - set(study["groups"]))
    if unknown:
        raise SystemExit(f"unknown group(s) {unknown}; the study has: {', '.join(study['groups'])}")
    workdir = ROOT / (args.workdir or study["workdir"])
    runs = plan(study, groups, workdir)
    unique = {run.key: run for run in runs}
    states = {key: state(run) for key, run in unique.items()}
    if args.dry_run:
        for run in runs:
            print(f"{run.group:8s} {run.name:28s} {states[run.key]:8s} {run.folder}")
        print(f"{len(unique)} distinct runs, {sum(s != 'done' for s in states.values())} to train")
        return 0
    if not args.report_only:
        todo = [run for key, run in unique.items() if states[key] != "done"
                and (not args.match or any(text in run.name for text in args.match))]
        needed = {s for run in todo for s in load_config(ROOT / study["base"], run.overrides).sources}
        ensure_sources(study, needed, workdir / "zoo", study["base"], args.threads, args.jobs)
        # longest first (memory transfer costs about 2.3x a plain run), so the two queues end together
        todo.sort(key=lambda r: -cost(json.loads(r.key)))
        zoo = workdir / "zoo"

        def make_command(run: Run):  # the state again: another runner may have trained it since the plan
            now = state(run)
            return None if now == "done" else run.command(study["base"], zoo, now == "partial")

        _run_all([(run.name, lambda run=run: make_command(run), run.folder.parent / f"{run.folder.name}.log")
                  for run in todo], args.threads, args.jobs)
    from report import write_report  # noqa: E402  (experiments/flying_digits/report.py)

    write_report(study, runs, Path(args.report_dir))
    return 0


sys.path.insert(0, str(HERE))  # report.py beside this file

if __name__ == "__main__":
    raise SystemExit(main())
