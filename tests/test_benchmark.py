"""benchmarks/speed.py end to end at its smallest settings: the table, the JSON and its ratios hold together."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_speed_script_writes_consistent_rows(tmp_path):
    out = tmp_path / "speed.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--configs", "demo", "--backbones", "convlstm",
           "--sources", "0,1", "--variants", "paper,released:1", "--demo-hidden", "8,8", "--demo-batch", "2",
           "--repeats", "1", "--infer-repeats", "1", "--warmup", "0", "--threads", "1", "--batch-sources",
           "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = {(r["variant"], r["m"]): r for r in report["rows"]}
    assert set(rows) == {("backbone", 0), ("paper", 1), ("released", 1)}
    for key, row in rows.items():
        assert "error" not in row["train"] and row["train"]["times"], key
        train = row["train"]  # the convolution probe taken right after each timed step, and the paired ratio
        assert len(train["step_probes"]) == len(train["times"]) and train["probe_ratio"] > 0, key
        assert row["summary"]["train_frac_probe"] == train["probe_ratio"], key
    paper = rows[("paper", 1)]["summary"]
    assert paper["train_flop_ratio"] > 1 and paper["train_ratio"] > 0  # TMU against its paired backbone
    assert "final table" in proc.stdout and report["peak_used"]["conv"] > 0


def test_alternatives_script_times_each_alternative_against_the_shipped_code(tmp_path):
    out = tmp_path / "alternatives.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "alternatives.py"), "--config", "demo", "--hidden", "8,8",
           "--batch", "2", "--sources", "2", "--repeats", "1", "--rounds", "1", "--threads", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"channels_last", "pointwise_matmul", "split_transfer_conv", "keep_freed_memory",
                         "stacked_distill_loss"}
    for name, row in rows.items():
        assert len(row["shipped_s"]) == len(row["alternative_s"]) == 1 and row["ratio"] > 0, name
