"""benchmarks/speed.py end to end at its smallest settings: the table, the JSON and its ratios hold together."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run benchmarks/<name>.py in a fresh process; its exit status must be 0 (stderr shown otherwise)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc
# Scripts run in this process get the thread count it already has: --threads 1 would slow every later test file.
THREADS = str(torch.get_num_threads())


def test_speed_script_writes_consistent_rows(tmp_path):
    out = tmp_path / "speed.json"
    proc = _run_script("speed", "--configs", "demo", "--backbones", "convlstm",
           "--sources", "0,1", "--variants", "paper,released:1", "--demo-hidden", "8,8", "--demo-batch", "2",
           "--repeats", "2", "--infer-repeats", "2", "--warmup", "0", "--threads", "1", "--batch-sources",
           "--precision", "fp32", "--out", str(out))
    report = json.loads(out.read_text())
    rows = {(r["variant"], r["m"]): r for r in report["rows"]}
    assert set(rows) == {("backbone", 0), ("paper", 1), ("released", 1)}
    for key, row in rows.items():
        assert "error" not in row["train"] and row["train"]["times"], key
        train = row["train"]  # the convolution probe taken right after each timed step, and the paired ratio
        assert len(train["step_probes"]) == len(train["times"]) and train["probe_ratio"] > 0, key
        assert row["summary"]["train_frac_probe"] == train["probe_ratio"], key
    for kind in ("train", "infer"):  # x backbone: the median over pairs of TMU time / the backbone's right after it
        pair = rows[("paper", 1)][kind]
        ratios = sorted(t / b for t, b in zip(pair["times"], pair["paired_backbone_times"]))
        assert len(ratios) == 2 and pair["paired_ratio"] == pytest.approx(sum(ratios) / 2)
    paper = rows[("paper", 1)]["summary"]
    assert paper["train_flop_ratio"] > 1 and paper["train_ratio"] > 0  # TMU against its paired backbone
    assert "final table" in proc.stdout and report["peak_used"]["conv"] > 0


def test_speed_script_times_bf16_beside_fp32_under_the_cpu_heading(tmp_path):
    """--precision fp32,bf16: each training row has an fp32 and a bf16-autocast child, and their ratio."""
    out = tmp_path / "speed.json"
    proc = _run_script("speed", "--configs", "demo", "--backbones", "convlstm", "--sources", "0,1",
                       "--demo-hidden", "4", "--demo-batch", "1", "--repeats", "1", "--warmup", "0", "--threads", "1",
                       "--no-infer", "--precision", "fp32,bf16", "--out", str(out))
    report = json.loads(out.read_text())
    for row in report["rows"]:
        assert row["train_bf16"]["job"]["precision"] == "bf16" and row["train"]["job"]["precision"] == "fp32"
        s = row["summary"]
        assert s["bf16_over_fp32"] == pytest.approx(s["train_bf16_s"] / s["train_s"])
    assert "bf16/32" in proc.stdout and "cpu: " in proc.stdout and "cpu_flags" in report["machine"]


def test_alternatives_script_times_each_alternative_against_the_shipped_code(tmp_path):
    out = tmp_path / "alternatives.json"
    proc = _run_script("alternatives", "--config", "demo", "--hidden", "8,8",
           "--batch", "2", "--sources", "2", "--repeats", "1", "--rounds", "1", "--threads", "1", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"channels_last", "pointwise_matmul", "split_transfer_conv", "keep_freed_memory",
                         "stacked_distill_loss", "sigmoid_tanh", "compile_cells"}
    for name, row in rows.items():
        assert len(row["shipped_s"]) == len(row["alternative_s"]) == 1 and row["ratio"] > 0, name


@pytest.mark.filterwarnings("ignore:.*torch.jit.script_method.*:DeprecationWarning")  # raised inside torch.compile
@pytest.mark.parametrize("name", ["channels_last", "pointwise_matmul", "split_transfer_conv", "stacked_distill_loss",
                                  "sigmoid_tanh", "compile_cells"])
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
    if name in alternatives.ALTER:
        alternatives.ALTER[name](torch, alt_net, alt_bank)
    with alternatives.during_steps(name, torch):
        alt_loss, alt_grads = loss_and_grads(alt_net, alt_bank)
    torch.testing.assert_close(alt_loss, loss, rtol=1e-5, atol=1e-7)
    alt_total = sum(g.abs().sum() for g in alt_grads.values())
    torch.testing.assert_close(alt_total, sum(g.abs().sum() for g in grads.values()), rtol=1e-4, atol=1e-6)


def test_conv_ceiling_records_every_convolution_of_the_step(tmp_path):
    """The ceiling script sees each convolution call once per recurrent step (19 steps for a 20-frame clip), knows
    that layer 0 needs no input gradient at t = 0 (the frames and the zero state have none), and reports a ceiling
    and the step against the same probe."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import conv_ceiling

    out = tmp_path / "ceiling.json"
    assert conv_ceiling.main(["--config", "demo", "--hidden", "8,8", "--batch", "2", "--repeats", "1",
                              "--threads", THREADS, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert sum(r["calls_per_step"] for r in rows) == 19 * 3  # two cells and the output head, 19 steps
    layer0 = [r for r in rows if r["input"] == [2, 1 * 16 + 8, 16, 16]]
    assert sorted((r["needs_input_grad"], r["calls_per_step"]) for r in layer0) == [(False, 1), (True, 18)]
    for r in rows:
        assert all(r[k] > 0 for k in ("forward", "backward", "input_grad", "weight_grad")), r
    assert report["outside_convs_frac"] == pytest.approx(1 - report["step_frac_probe"] / report["ceiling_frac_probe"])


@pytest.mark.parametrize("needs_input_grad", [True, False])
def test_conv_ceiling_times_the_backward_that_autograd_runs(needs_input_grad):
    """The timed backward call returns what autograd computes for F.conv2d: the same gradients, none extra."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import conv_ceiling
    import torch

    call = conv_ceiling.Call(input=(2, 6, 9, 9), weight=(4, 3, 3, 3), stride=(2, 2), padding=(1, 1), groups=2,
                             bias=True, needs_input_grad=needs_input_grad)
    fns, (x, w, bias, grad_out) = conv_ceiling.kernels(torch, call, with_tensors=True)
    grad_x, grad_w, grad_b = fns["backward"]()
    xr, wr, br = (t.clone().requires_grad_(t is not x or needs_input_grad) for t in (x, w, bias))
    y = torch.nn.functional.conv2d(xr, wr, br, stride=2, padding=1, groups=2)
    assert y.shape == grad_out.shape and fns["forward"]().shape == y.shape
    wanted = torch.autograd.grad(y, [t for t in (xr, wr, br) if t.requires_grad], grad_out)
    got = [g for g in (grad_x, grad_w, grad_b) if g is not None]
    assert len(got) == len(wanted)
    for g, ref in zip(got, wanted):
        torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-5)


def test_methods_script_times_every_table1_row_and_counts_its_parameters(tmp_path):
    """benchmarks/methods.py runs every method of the paper's Table 1; its parameter counts agree with an
    independent count (the network's own, the paper's rule for a source-free test model)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import methods

    out = tmp_path / "methods.json"
    assert methods.main(["--hidden", "8,8", "--batch", "2", "--repeats", "1", "--threads", THREADS, "--out",
                         str(out)]) == 0
    rows = {r["label"]: r for r in json.loads(out.read_text())["rows"]}
    assert list(rows) == [r.label for r in methods.ROWS]
    for label, row in rows.items():
        assert len(row["train_s"]) == len(row["test_s"]) == 1 and row["train_s_median"] > 0, label
    assert rows[methods.REFERENCE]["train_ratio"] == rows[methods.REFERENCE]["test_ratio"] == 1.0
    from transmem.models import NetConfig, PredictiveNet

    plain = PredictiveNet(NetConfig(backbone="convlstm", frame_size=(64, 64), patch_size=4, hidden=(8, 8),
                                    kernel_size=5))
    n_plain = sum(p.numel() for p in plain.parameters())
    for label in ("ConvLSTM (scratch)", "finetune, 1 source", "L2SP, 1 source"):
        assert rows[label]["params_test"] == n_plain, label
        assert rows[label]["params_train"] == n_plain, label  # a finetuned model holds no source in training
    mt = rows["memory transfer, 2 sources"]
    assert mt["params_train"] == mt["params_test"] + 2 * n_plain  # the sources are gone at test time
    art = rows["ART, 2 sources"]
    assert art["params_test"] == art["params_train"]  # ART keeps its sources at test time


def test_methods_script_names_the_rows_it_has_when_asked_for_another():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import methods

    with pytest.raises(SystemExit, match="no Table 1 row uses the method"):
        methods.main(["--methods", "nonsense", "--out", "/dev/null"])


def test_methods_script_runs_a_subset_on_another_backbone(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import methods

    out = tmp_path / "methods.json"
    assert methods.main(["--backbone", "predrnn", "--methods", "l2sp,memory-transfer", "--hidden", "8,8", "--batch",
                         "2", "--repeats", "2", "--threads", THREADS, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["method"] for r in report["rows"]] == ["l2sp", "memory-transfer", "memory-transfer"]
    assert report["rows"][0]["train_ratio"] == 1.0  # without the finetune row, ratios are to the first row
    assert all(len(r["train_s"]) == 2 for r in report["rows"])


def test_alternatives_script_runs_a_subset_on_a_released_tmu_and_names_what_it_has(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import alternatives

    out = tmp_path / "alternatives.json"
    assert alternatives.main(["--alternatives", "split_transfer_conv,sigmoid_tanh", "--backbone", "predrnn",
                              "--released", "--config", "demo", "--hidden", "8,8", "--batch", "2", "--sources", "1",
                              "--repeats", "2", "--threads", THREADS, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["setup"]["backbone"] == "predrnn" and report["setup"]["released"] is True
    assert list(report["rows"]) == ["split_transfer_conv", "sigmoid_tanh"]
    assert all(len(r["alternative_s"]) == 2 for r in report["rows"].values())
    with pytest.raises(SystemExit, match="unknown alternative"):
        alternatives.main(["--alternatives", "nonsense"])


def test_sampling_script_times_separate_rollouts_against_one_batch(tmp_path):
    out = tmp_path / "sampling.json"
    proc = _run_script("sampling", "--frame-size", "16", "--channels", "1",
           "--hidden", "8", "--batch", "2", "--samples", "1,3", "--repeats", "2", "--horizon", "2", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert [(r["n"], r["sequences"]) for r in rows] == [(1, 2), (3, 6)]
    for r in rows:  # medians over the rounds, and their ratio
        assert len(r["rounds"]) == 2 and r["separate_s"] == pytest.approx(sum(t[0] for t in r["rounds"]) / 2)
        assert r["ratio"] == pytest.approx(r["separate_s"] / r["batched_s"])
    assert "one batch s" in proc.stdout and "ratio" in proc.stdout


def test_inference_script_times_each_variant_against_inference_mode(tmp_path):
    out = tmp_path / "infer.json"
    proc = _run_script("inference", "--batches", "1,2", "--hidden", "8", "--repeats", "3", "--threads", THREADS,
                       "--variants", "no_grad,inference_mode,channels_last", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert [r["batch"] for r in rows] == [1, 2]
    for row in rows:
        base = row["times"]["inference_mode"]
        assert len(base) == 3 and row["ratio"]["inference_mode"] == 1.0
        per_round = sorted(t / b for t, b in zip(row["times"]["no_grad"], base))
        assert row["ratio"]["no_grad"] == pytest.approx(per_round[1])  # the median of three rounds
    assert "| 2 |" in proc.stdout and "cpu:" in proc.stdout and (tmp_path / "infer.log").is_file()


def test_bank_precision_script_measures_targets_and_step_times(tmp_path):
    out = tmp_path / "bank.json"
    proc = _run_script("bank_precision", "--batch", "2", "--repeats", "2", "--threads", THREADS,
                       "--set", "model.released=true", "--out", str(out))
    report = json.loads(out.read_text())
    assert set(report["relative_difference"]) == {"0"}  # the released cell: one TMU layer
    assert 0 < report["relative_difference"]["0"] < 0.01
    times = report["times"]
    assert all(len(v) == 2 for v in times.values())
    over = sorted(m / b for m, b in zip(times["mt_bank_bf16"], times["backbone"]))
    assert report["mt_over_backbone"]["bf16"] == pytest.approx(sum(over) / 2)
    assert "memory-transfer step" in proc.stdout
