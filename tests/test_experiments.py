"""experiments/run.py end to end on a tiny study: sources made, each config trained once, a compact result per run,
nothing retrained on a fresh clone, and the report rebuilt from the result files alone."""
import json
import os
import shutil

import pytest
import yaml
from experiment_modules import ROOT, load, runner

TINY_BASE = {
    "data": {"name": "mnist3", "train_size": 16, "valid_size": 8, "test_size": 8,
             "options": {"frame_size": 16, "seq_len": 6, "t_in": 3}},
    "model": {"hidden": [8, 8], "kernel_size": 3, "patch_size": 2},
    "iterations": 4, "batch_size": 4, "val_every": 2, "log_every": 1, "checkpoint_every": 2,
    "lr_schedule": "cosine",
}


@pytest.fixture
def study(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY_BASE))
    mt = {"method": "memory-transfer", "sources": ["tiny-1", "tiny-2"]}
    table = "Table 1 at the converged scale"  # the flying-digits report's table, so its own parts are drawn too
    study = {
        "base": str(tmp_path / "base.yaml"),
        "workdir": str(tmp_path / "runs"),
        "report": str(tmp_path / "report"),
        "zoo": str(tmp_path / "zoo"),
        "sources": {"tiny-1": {"dataset": "mnist1", "set": {"iterations": 2}},
                    "tiny-2": {"dataset": "mnist2", "set": {"iterations": 2}}},
        "groups": {
            "plain": {"table": table, "reference": "scratch", "seeds": [0, 1],
                      "runs": {"scratch": {"label": "scratch", "method": "scratch"},
                               "finetune-2": {"label": "ft", "method": "finetune", "sources": ["tiny-2"]}}},
            "mt": {"table": table, "seeds": [0], "runs": {"mt-both": {"label": "tmu", **mt, "beta": 0.01}}},
            "beta": {"title": "beta", "seeds": [0], "set": {"beta": 0.01},
                     "runs": {"mt-b0.01": {"label": "0.01", **mt},  # the same config as mt-both-s0
                              "mt-b1": {"label": "1", **mt, "beta": 1.0}}},  # the run's own setting wins
        },
    }
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(ROOT / "experiments/flying_digits/report.py", folder / "report.py")
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_a_study_trains_each_config_once_and_its_report_needs_only_the_result_files(study, tmp_path, capsys):
    run = runner()
    args = [str(study), "--jobs", "2"]
    assert run.main([*args, "--dry-run"]) == 0
    assert "6 distinct runs to train" in capsys.readouterr().out  # mt-b0.01-s0 is mt-both-s0
    assert run.main([*args, "--dry-run", "--match", "scratch-s1"]) == 0  # a name with its seed: that run alone
    assert "1 distinct runs to train" in capsys.readouterr().out
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "scratch-s1.lock").write_text(str(os.getpid()))  # a live runner holds it: left alone
    (runs / "scratch-s0.lock").write_text("999999999")  # a dead runner's lock: taken over
    assert run.main([*args, "--match", "scratch"]) == 0
    assert "skip  scratch-s1  (another runner is training it)" in capsys.readouterr().out
    results = study.parent / "results"
    assert sorted(p.name for p in results.glob("*.json")) == ["scratch-s0.json"]
    (runs / "scratch-s1.lock").unlink()
    assert run.main([*args, "--match", "finetune-2", "--sources-only"]) == 0  # just the source finetune-2 needs
    assert (tmp_path / "zoo" / "tiny-2" / "model.safetensors").is_file()
    assert not (tmp_path / "zoo" / "tiny-1").exists()
    assert sorted(p.name for p in results.glob("*.json")) == ["scratch-s0.json", "source-tiny-2.json"]
    assert run.main(args) == 0
    assert (tmp_path / "zoo" / "tiny-1" / "model.safetensors").is_file()
    assert sorted(p.stem for p in results.glob("*.json")) == [
        "finetune-2-s0", "finetune-2-s1", "mt-b1-s0", "mt-both-s0", "scratch-s0", "scratch-s1",
        "source-tiny-1", "source-tiny-2"]
    mt = json.loads((results / "mt-both-s0.json").read_text())
    assert mt["config"]["sources"] == ["tiny-1", "tiny-2"] and mt["config"]["seed"] == 0
    assert set(mt["gates"]["mean"]) == {"tiny-1", "tiny-2"} and 0 <= mt["gates"]["mean"]["tiny-1"] <= 1
    assert mt["valid_curve"]["step"] == [2.0, 4.0] and len(mt["train_curve"]["lr"]) == 4
    assert mt["elapsed_s"] > 0 and mt["train_s_per_batch"] > 0 and mt["machine"]["threads"] == 1
    assert isinstance(mt["machine"]["cpu_flags"], list)  # the vector flags that tell two CPUs of one name apart
    assert mt["sample"]["prediction"]["shape"] == [1, 3, 1, 16, 16]
    with pytest.raises(run.StudyError, match="sample_sequence 8 is past the 8 test sequences"):
        run.checkpoint_parts(runs / "mt-both-s0" / "best.safetensors", 8, 1)
    assert mt["sample_gates"]["sources"] == ["tiny-1", "tiny-2"]  # gate maps of the sample: 5 steps, 2 sources, 8x8
    assert {k: v["shape"] for k, v in mt["sample_gates"]["layers"].items()} == {"0": [5, 2, 8, 8]}  # layer 0 a TMU
    assert json.loads((results / "mt-b1-s0.json").read_text())["config"]["beta"] == 1.0
    assert json.loads((results / "scratch-s0.json").read_text())["gates"] is None
    assert json.loads((results / "scratch-s0.json").read_text())["test_samples"] is None  # deterministic
    assert json.loads((results / "scratch-s0.json").read_text())["sample_gates"] is None  # no gates
    assert {k: len(v) for k, v in mt["memory"]["per_layer"].items()} == {"0": 5, "1": 5}  # |C_t| per layer and step
    assert set(json.loads((results / "scratch-s0.json").read_text())["memory"]["per_layer"]) == {"0", "1"}
    # a source in the zoo that its recipe no longer describes is refused, not silently used
    changed = yaml.safe_load(study.read_text())
    changed["sources"]["tiny-2"]["set"]["data.options"] = {"frame_size": 16, "seq_len": 6, "t_in": 2}
    study.write_text(yaml.safe_dump(changed, sort_keys=False))
    with pytest.raises(run.StudyError, match=r"zoo/tiny-2 was trained with data.options.t_in=3, but the study's "
                                             r"recipe for 'tiny-2' gives 2: delete .*zoo/tiny-2 to pretrain it again"):
        run.check_zoo_source(run.load_study(study), "tiny-2")
    run.check_zoo_source(run.load_study(study), "tiny-1")  # unchanged: accepted
    changed["sources"]["tiny-2"]["set"].pop("data.options")
    study.write_text(yaml.safe_dump(changed, sort_keys=False))

    # a fresh clone: the run folders are gone, the result files are there. Nothing is trained again, and the
    # report is rebuilt from the result files alone.
    shutil.rmtree(runs)
    shutil.rmtree(tmp_path / "report")
    capsys.readouterr()
    assert run.main([*args, "--dry-run"]) == 0
    assert "0 distinct runs to train" in capsys.readouterr().out
    assert run.main([*args, "--report-only"]) == 0
    assert not runs.exists()
    report = (tmp_path / "report" / "tables.md").read_text()
    assert "## Table 1 at the converged scale" in report and "## beta" in report
    assert "| ft |" in report and "± " in report  # two seeds: mean ± std
    assert "| scratch | " in report and "+0.0 %" in report and "| 1 |" in report  # the beta group's own table
    assert "Table 1 beside the paper's" in report and "| 110.0 | -8.7 % |" in report  # flying-digits parts
    assert "tiny-1: " in report  # gate averages
    assert "- memory transfer from both beats finetuning from 2 digits (paper 94.7 against 110.0): **" in report
    assert "(1 seed) against finetune-2" in report and "from 1 digit beats scratch (paper 96.1 against 120.5): not yet measured" in report
    for picture in ("curves-plain.png", "curves-beta.png", "predictions-converged.png"):
        assert (tmp_path / "report" / picture).stat().st_size > 0, picture

    # a committed result of other settings is never overwritten: the error names the file and the fix
    path = results / "scratch-s0.json"
    data = json.loads(path.read_text())
    data["config"]["lr"] = 0.5
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match=r"scratch-s0.json holds a run with other settings \(they differ in lr\)"):
        run.main([*args, "--dry-run"])


def test_a_bad_study_file_fails_before_anything_is_trained(tmp_path):
    run = runner()
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY_BASE))
    spec = {"base": str(tmp_path / "base.yaml"), "workdir": str(tmp_path / "runs"), "report": str(tmp_path / "r"),
            "groups": {"g": {"seeds": [0], "runs": {"x": {"method": "scratch", "lr_schedule": "linear"}}}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit, match="group 'g', run 'x': .*lr_schedule"):
        run.main([str(path)])
    spec["groups"]["g"]["sed"] = [0]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit, match=r"unknown keys \['sed'\]"):
        run.main([str(path)])
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("study", sorted(p.parent.name for p in (ROOT / "experiments").glob("*/study.yaml")))
def test_the_shipped_studies_resolve(study, capsys):
    """Every run of the repository's studies resolves to a valid config; the plan lists them."""
    run = runner()
    assert run.main([str(ROOT / "experiments" / study / "study.yaml"), "--dry-run"]) == 0
    assert "distinct runs to train" in capsys.readouterr().out


def test_commit_records_just_the_result_files_in_git(tmp_path, monkeypatch):
    """--commit's git step: only the named files go into the commit; other staged or changed files stay as they
    were; a path git cannot add is reported, never fatal."""
    import subprocess

    run = runner()
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True, check=True).stdout  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (repo / "other.txt").write_text("half-done work\n")
    git("add", "other.txt")
    (repo / "results").mkdir()
    result = repo / "results" / "x-s0.json"
    result.write_text("{}\n")
    monkeypatch.setattr(run, "ROOT", repo)
    run._git_commit([result], "study: x-s0")
    assert git("log", "--format=%s") == "study: x-s0\n"
    assert git("show", "--name-only", "--format=").split() == ["results/x-s0.json"]
    assert git("status", "--short") == "A  other.txt\n"  # still staged, not committed
    run._git_commit([tmp_path / "outside.json"], "nothing")  # outside the repository: reported, not raised
    assert git("log", "--format=%s") == "study: x-s0\n"


def test_the_cpu_is_named_in_results():
    from transmem.machine import cpu_name

    assert cpu_name("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: avx2\n") == "Intel(R) Xeon(R) Processor"
    assert cpu_name("processor\t: 0\n")  # no model name line: the platform module's answer, never empty
    assert isinstance(cpu_name(), str) and cpu_name().strip()
    common = load("report_common", ROOT / "experiments/report_common.py")
    line = common.machine_line({"cpu": "AMD EPYC", "cpu_flags": ["avx512f", "avx2"], "threads": 1})
    assert line == "AMD EPYC (avx512f, avx2), 1 thread(s) per run"
    line = common.machine_line({"cpu": "AMD EPYC", "cpu_model": "family 26 model 2", "cpu_flags": ["avx2"], "threads": 2})
    assert line == "AMD EPYC family 26 model 2 (avx2), 2 thread(s) per run"
    from transmem.machine import cpu_model

    info = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
    assert cpu_model(info) == "family 25 model 1"
    assert cpu_model("processor\t: 0\nmodel name\t: Neoverse\n") is None  # no family line (an ARM CPU)
    from transmem.machine import cpu_label

    assert cpu_label(info) == "AMD EPYC family 25 model 1"
    assert cpu_label("processor\t: 0\nmodel name\t: Neoverse\n") == "Neoverse"
    assert common.machine_line({"cpu": "AMD EPYC", "threads": 1}) == "AMD EPYC, 1 thread(s) per run"  # older results


def test_the_cost_estimate_counts_sources_and_backbones():
    """A run's cost in plain ConvLSTM steps: 0.17 of a step per TMU distiller, 0.5 per source it runs, its backbone's
    step-time ratio."""
    run = runner()
    config = {"iterations": 100, "method": "memory-transfer", "sources": ["a", "b"], "model": {"backbone": "mim"}}
    assert run.relative_cost(config) == pytest.approx(100 * 2.34 * 2.9)
    assert run.relative_cost({**config, "beta": 0.0}) == pytest.approx(100 * 1.34 * 2.9)  # the TMU, not its sources
    assert run.relative_cost({**config, "method": "art", "model": {"backbone": "convlstm"}}) == pytest.approx(200)
    assert run.relative_cost({**config, "method": "finetune", "model": {"backbone": "convlstm"}}) == 100


def test_real_files_take_the_stand_ins_place_and_results_go_aside(tmp_path, capsys):
    """--real STAND-IN=DIR: runs and sources on the stand-in read DIR with the study's reader for it; results, report,
    run folders and zoo move to -real places; a stand-in the study does not map, or a missing folder, is refused."""
    run = runner()
    folders = {name: tmp_path / name for name in ("h36m", "kth", "weizmann")}
    for f in folders.values():
        f.mkdir()
    path = ROOT / "experiments/human_motion/study.yaml"
    real = {"h36m-synth": str(folders["h36m"]), "kth-synth": str(folders["kth"]),
            "weizmann-synth": str(folders["weizmann"])}
    study = run.load_study(path, real)
    target = next(r for r in study.runs if r.name == "mt-both-s0")
    data = target.config["data"]
    assert data["name"] == "h36m" and data["options"]["root"] == str(folders["h36m"])
    assert data["options"]["frame_size"] == 32  # the study's own options are kept
    assert data["train_size"] is None and data["test_size"] is None  # every window the real files hold
    assert target.config["sources"] == ["hm32-kth-real", "hm32-weizmann-real"]  # never the stand-ins' sources
    assert target.result_path.parent.name == "results-real" and study.results.name == "results-real"
    assert study.workdir.name == "human-motion-real" and study.zoo == study.workdir / "zoo"
    assert study.report_dir.name == "results-human-motion-real"
    kth_target = next(r for r in study.runs if r.name == "mt-mnist2-kth-s0")
    assert kth_target.config["data"]["name"] == "kth" and kth_target.config["sources"] == ["hm32-mnist2"]
    recipe = study.spec["sources"]["hm32-weizmann-real"]
    assert recipe["dataset"] == "weizmann" and recipe["set"]["data.options.root"] == str(folders["weizmann"])
    assert run.source_config(study, "hm32-weizmann-real")["data"]["train_size"] is None
    assert study.spec["sources"]["hm32-mnist2"]["dataset"] == "mnist2"  # not a stand-in: unchanged
    assert "hm32-weizmann" not in study.spec["sources"]
    # only KTH real: Table 6 runs on it with the stand-in Human3.6M source, under its own name
    only_kth = run.load_study(path, {"kth-synth": str(folders["kth"])})
    h36m = next(r for r in only_kth.runs if r.name == "mt-h36m-kth-s0")
    assert h36m.config["data"]["name"] == "kth" and h36m.config["sources"] == ["hm32-h36m"]
    assert next(r for r in only_kth.runs if r.name == "mt-both-s0").config["sources"] == ["hm32-kth-real",
                                                                                           "hm32-weizmann"]
    synthetic = run.load_study(path)
    assert next(r for r in synthetic.runs if r.name == "mt-both-s0").config["data"]["name"] == "h36m-synth"
    with pytest.raises(run.StudyError, match="maps only h36m-synth, kth-synth, weizmann-synth"):
        run.load_study(path, {"mnist3": str(tmp_path)})
    with pytest.raises(run.StudyError, match="no such folder"):
        run.load_study(path, {"kth-synth": str(tmp_path / "missing")})
    with pytest.raises(SystemExit):
        run.main([str(path), "--real", "kth-synth", "--dry-run"])  # no =DIR
    assert "give STAND-IN=DIR" in capsys.readouterr().err


def test_a_stochastic_run_is_also_scored_on_the_best_of_its_samples(tmp_path):
    """A savp run's result keeps the best of `samples` futures per sequence beside its one-sample test row."""
    run = runner()
    base = {**TINY_BASE, "model": {**TINY_BASE["model"], "backbone": "savp"}, "iterations": 2}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"base": str(tmp_path / "base.yaml"), "workdir": str(tmp_path / "runs"), "report": str(tmp_path / "r"),
            "samples": 3, "groups": {"g": {"seeds": [0], "runs": {"savp": {"method": "scratch"}}}}}
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.yaml").write_text(yaml.safe_dump(spec))
    assert run.main([str(folder / "study.yaml")]) == 0
    r = json.loads((folder / "results" / "savp-s0.json").read_text())
    assert r["test_samples"]["samples"] == 3 and r["test_samples"]["seed"] == 0
    best, mean = r["test_samples"]["best"], r["test_samples"]["mean"]
    assert best["n_sequences"] == mean["n_sequences"] == TINY_BASE["data"]["test_size"]  # every test sequence
    assert len(best["ssim_per_frame"]) == 3 and best["ssim"] >= mean["ssim"]  # 6 frames, 3 in: 3 predicted


@pytest.mark.parametrize("study", sorted(p.parent.name for p in (ROOT / "experiments").glob("*/study.yaml")))
def test_finetune_rows_start_from_a_network_of_their_own_shape(study):
    """Finetuning copies every source tensor: a shipped study's finetune rows must name sources trained with the
    target's backbone, widths, filters, patch size and frame channels (the channels from one generated sequence)."""
    from transmem.data import load_dataset

    run = runner()
    s = run.load_study(ROOT / "experiments" / study / "study.yaml")
    keys = ("backbone", "hidden", "kernel_size", "patch_size", "latent_channels", "latent_hidden")

    def channels(config):
        data = config["data"]
        return load_dataset(data["name"], "valid", size=1, seed=0, **data["options"]).frames.shape[2]

    checked = 0
    for r in s.runs:
        if r.config["method"] != "finetune":
            continue
        name = r.config["sources"][0]
        if name in s.spec["sources"]:
            source = run.source_config(s, name)
        else:  # a shipped zoo model: its card's config
            source = json.loads((s.zoo / name / "card.json").read_text())["config"]
        for key in keys:
            assert source["model"].get(key) == r.config["model"].get(key), (r.name, name, key)
        assert channels(source) == channels(r.config), (r.name, name, "frame channels")
        checked += 1
    assert checked or study in ("precision",), "a study without finetune rows"


def test_only_trains_its_groups_in_the_order_given(study, capsys):
    run = runner()
    assert run.main([str(study), "--dry-run", "--only", "mt", "plain"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith(("mt ", "plain "))]
    assert names == ["mt-both-s0", "scratch-s0", "scratch-s1", "finetune-2-s0", "finetune-2-s1"]


def test_the_plan_prefers_step_times_measured_on_this_cpu(study):
    """--dry-run's hours come from committed plain runs: those of this CPU (name, family/model, flags, threads)
    when there are any, since CPUs of one name trained up to 2.3x apart here; else all, saying so."""
    run = runner()
    loaded = run.load_study(study)
    by_name = {r.name: r for r in loaded.runs}
    here = run.machine(1)
    elsewhere = {**here, "cpu_flags": ["avx512f"] if "avx512f" not in here["cpu_flags"] else []}
    another_family = {**here, "cpu_model": "family 1 model 1"}  # same name and flags, another generation

    def commit(name, seconds, machine):
        path = by_name[name].result_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"train_s_per_batch": seconds, "machine": machine}))

    assert run.seconds_per_plain_step(loaded) == (0.3, "a guess: no committed run yet")
    commit("scratch-s0", 2.0, elsewhere)
    commit("scratch-s1", 4.0, {**here, "threads": 2})
    commit("finetune-2-s1", 3.0, another_family)
    step, source = run.seconds_per_plain_step(loaded)
    assert step == 3.0 and "other CPUs or thread counts" in source
    commit("finetune-2-s0", 0.5, here)
    assert run.seconds_per_plain_step(loaded) == (0.5, "from 1 committed run(s) on this CPU at 1 thread(s)")
    assert run.seconds_per_plain_step(loaded, threads=2)[0] == 4.0


def test_the_plan_times_a_run_by_committed_runs_of_its_kind(study, capsys):
    """A run whose kind (method, sources run, beta 0 or not, network, frames, batch) has a committed step time on
    this CPU at this thread count is timed by it, not by relative_cost's model: mt-both-s0 at 0.7 s times
    mt-b1-s0 (another beta, the same kind), not the plain rows, and a result from another thread count counts for
    nothing."""
    run = runner()
    loaded = run.load_study(study)
    by_name = {r.name: r for r in loaded.runs}
    here = run.machine(1)

    def commit(name, seconds, machine):
        r = by_name[name]
        r.result_path.parent.mkdir(parents=True, exist_ok=True)
        r.result_path.write_text(json.dumps({"config": r.config, "train_s_per_batch": seconds, "machine": machine}))

    assert run.step_kind(by_name["mt-both-s0"].config) == run.step_kind(by_name["mt-b1-s0"].config)
    assert run.step_kind(by_name["mt-both-s0"].config) != run.step_kind({**by_name["mt-both-s0"].config, "beta": 0.0})
    assert run.step_kind(by_name["scratch-s0"].config) == run.step_kind(by_name["scratch-s1"].config)  # seeds
    assert run.step_kind(by_name["scratch-s0"].config) != run.step_kind(by_name["finetune-2-s0"].config)
    commit("mt-both-s0", 900.0, here)
    commit("scratch-s0", 9.0, {**here, "threads": 2})
    assert run.measured_step_seconds(loaded) == {run.step_kind(by_name["mt-both-s0"].config): 900.0}
    assert run.main([str(study), "--dry-run", "--only", "beta"]) == 0
    out = capsys.readouterr().out
    assert "1 distinct runs to train: 1 timed by committed runs of their kind" in out  # mt-b1-s0 (mt-b0.01 is done)
    # 4 iterations of 900 s; a lone run takes its whole time even with two jobs
    assert "group beta: about 1.0 core-hours to train, 1.0 h of wall time with --jobs 2 --threads 1" in out
