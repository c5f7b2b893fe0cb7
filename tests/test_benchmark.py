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
    paper = rows[("paper", 1)]["summary"]
    assert paper["train_flop_ratio"] > 1 and paper["train_ratio"] > 0  # TMU against its paired backbone
    assert "final table" in proc.stdout and report["peak_used"]["conv"] > 0
