"""experiments/flying_digits/run.py end to end on a tiny study: sources made, runs trained once, tables and figures."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_BASE = {
    "data": {"name": "mnist3", "train_size": 16, "valid_size": 8, "test_size": 8,
             "options": {"frame_size": 16, "seq_len": 6, "t_in": 3}},
    "model": {"hidden": [8, 8], "kernel_size": 3, "patch_size": 2},
    "iterations": 4, "batch_size": 4, "val_every": 2, "log_every": 1, "checkpoint_every": 2,
}


def _runner():
    spec = importlib.util.spec_from_file_location("flying_digits_run", ROOT / "experiments/flying_digits/run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def study(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY_BASE))
    mt = {"method": "memory-transfer", "sources": ["tiny-1", "tiny-2"]}
    study = {
        "base": str(tmp_path / "base.yaml"),
        "workdir": str(tmp_path / "runs"),
        "sources": {"tiny-1": {"dataset": "mnist1", "set": {"iterations": 2}},
                    "tiny-2": {"dataset": "mnist2", "set": {"iterations": 2}}},
        "groups": {
            "table": {"seeds": [0, 1], "runs": {"scratch": {"label": "scratch", "method": "scratch"},
                                                "finetune-2": {"label": "ft", "method": "finetune", "sources": ["tiny-2"]},
                                                "mt-both": {"label": "tmu", **mt, "beta": 0.01}}},
            "beta": {"seeds": [0], "runs": {"mt-b0.01": {"label": "0.01", **mt, "beta": 0.01},  # = mt-both-s0
                                            "mt-b1": {"label": "1", **mt, "beta": 1.0}}},
            "length": {"seeds": [0], "runs": {"scratch-long": {"label": "scratch", "method": "scratch",
                                                                "iterations": 6}}},
        },
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_the_study_runs_each_config_once_and_writes_its_report(study, tmp_path, capsys):
    run = _runner()
    report = tmp_path / "report"
    args = ["--study", str(study), "--report-dir", str(report), "--jobs", "2"]
    assert run.main([*args, "--dry-run"]) == 0
    assert "8 distinct runs, 8 to train" in capsys.readouterr().out  # mt-b0.01-s0 is mt-both-s0
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "scratch-s1.log.lock").write_text(str(os.getpid()))  # a live runner holds it: left alone
    (runs / "scratch-s0.log.lock").write_text("999999999")  # a dead runner's lock: taken over
    assert run.main([*args, "--match", "scratch"]) == 0  # scratch-s0, scratch-long-s0 (scratch-s1 is held)
    assert "skip  scratch-s1  (another runner is training it)" in capsys.readouterr().out
    assert run.main([*args, "--dry-run"]) == 0
    assert "8 distinct runs, 6 to train" in capsys.readouterr().out
    (runs / "scratch-s1.log.lock").unlink()
    assert run.main(args) == 0
    assert (runs / "zoo" / "tiny-1" / "model.safetensors").is_file()
    assert not (runs / "mt-b0.01-s0").exists() and (runs / "mt-both-s0" / "results.json").is_file()
    tables = (report / "tables.md").read_text()
    assert "| tmu | tiny-1, tiny-2 |" in tables and "94.7 / 0.777" in tables  # beside the paper's numbers
    assert "± " in tables  # two seeds: mean ± std
    for picture in ("beta.png", "learning-curves.png", "predictions.png"):
        assert (report / picture).stat().st_size > 0, picture
    gates = json.loads((report / "gates.json").read_text())
    assert set(gates["mt-both-s0"]["mean"]) == {"tiny-1", "tiny-2"}
    # a second call trains nothing; a finished run of other settings is never overwritten
    capsys.readouterr()
    assert run.main([*args, "--dry-run"]) == 0
    assert "0 to train" in capsys.readouterr().out
    assert run.main([*args, "--only", "beta", "--dry-run"]) == 0  # mt-b0.01-s0 is found in the table's folder
    out = capsys.readouterr().out
    assert "0 to train" in out and str(runs / "mt-both-s0") in out
    results = runs / "scratch-s0" / "results.json"
    data = json.loads(results.read_text())
    data["config"]["lr"] = 0.5
    results.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="holds a finished run with other settings"):
        run.main([*args, "--dry-run"])
