"""benchmarks/speed.py end to end at its smallest settings: the table, the JSON and its ratios hold together."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("name", ["channels_last", "pointwise_matmul", "split_transfer_conv", "stacked_distill_loss"])
def test_each_in_process_alternative_computes_the_shipped_loss_and_gradients(name):
    """An alternative is timed as another implementation of the same function: same loss, same gradients."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import alternatives
    import speed
    import torch

    from transmem.training.objective import transfer_objective

    job = dict(backbone="predrnn", hidden=[8, 8], batch=2, m=2, released=False)
    frames = torch.rand(2, speed.SEQ_LEN, 1, speed.FRAME, speed.FRAME)

    def loss_and_grads(net, bank):
        out = net(frames, t_in=speed.T_IN)
        memories = bank.collect(frames, t_in=speed.T_IN)
        loss, _ = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=0.1)
        return loss, {n: g for n, g in zip(dict(net.named_parameters()), torch.autograd.grad(loss, list(net.parameters())))}

    _, net, bank = speed.build(torch, job)
    loss, grads = loss_and_grads(net, bank)
    _, alt_net, alt_bank = speed.build(torch, job)  # the same seed: the same weights
    alternatives.ALTER[name](torch, alt_net, alt_bank)
    product = alternatives.DistillerProduct(torch) if name == "pointwise_matmul" else None
    if product is not None:
        product.active = True
    try:
        alt_loss, alt_grads = loss_and_grads(alt_net, alt_bank)
    finally:
        if product is not None:
            product.active = False
    torch.testing.assert_close(alt_loss, loss, rtol=1e-5, atol=1e-7)
    alt_total = sum(g.abs().sum() for g in alt_grads.values())
    torch.testing.assert_close(alt_total, sum(g.abs().sum() for g in grads.values()), rtol=1e-4, atol=1e-6)
