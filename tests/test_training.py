"""The trainer and the command line end to end on tiny data: every command, resume, torchrun, failures."""
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from transmem.cli import main
from transmem.training import trainer as trainer_module
from transmem.training.config import load_config
from transmem.training.trainer import Trainer, TrainingError

TINY = [
    "data.options={frame_size: 16, seq_len: 6, t_in: 3}",
    "data.train_size=16", "data.valid_size=8", "data.test_size=8",
    "model.hidden=[8,8]", "model.kernel_size=3", "model.patch_size=2",
    "iterations=4", "batch_size=4", "val_every=2", "log_every=1", "checkpoint_every=2",
]


def tiny_args(*extra):
    out = []
    for item in TINY:
        out += ["--set", item]
    return out + ["--no-progress", *extra]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    for name, dataset in (("one", "mnist1"), ("two", "mnist2")):
        assert main(["pretrain", "--dataset", dataset, "--name", name, "--zoo", str(root),
                     "--out", str(root.parent / f"pre-{name}"), *tiny_args()]) == 0
    return root


def test_pretrain_writes_a_zoo_entry_with_a_model_card(zoo, capsys):
    card = json.loads((zoo / "one" / "card.json").read_text())
    assert card["backbone"] == "convlstm" and card["dataset"] == "mnist1"
    assert card["frame_shape"] == [1, 16, 16] and card["patch_size"] == 2 and card["state_shape"] == [8, 8, 8]
    assert card["metrics"]["mse"] > 0 and card["config"]["data"]["name"] == "mnist1"
    assert main(["zoo", "list", "--zoo", str(zoo)]) == 0
    assert main(["zoo", "show", "two", "--zoo", str(zoo)]) == 0
    out = capsys.readouterr().out
    assert "one" in out and '"dataset": "mnist2"' in out


@pytest.mark.parametrize(
    "method_args, distills",
    [
        (["--method", "scratch"], False),
        (["--method", "finetune", "--source", "two"], False),
        (["--method", "finetune", "--source", "two", "--set", "method_options={tmu: true}"], False),
        (["--method", "memory-transfer", "--source", "one", "--source", "two", "--beta", "0.1"], True),
        (["--method", "memory-transfer", "--source", "two", "--tmu-cell", "paper"], True),
        (["--method", "memory-transfer", "--source", "two", "--set", "distill_norm=relative"], True),
        (["--method", "memory-transfer", "--source", "one", "--tmu-layers", "1", "--beta", "0"], False),
        (["--method", "l2sp", "--source", "two", "--set", "method_options={alpha: 0.1}"], False),
        (["--method", "knowledge-flow", "--source", "one", "--source", "two"], False),
        (["--method", "art", "--source", "one", "--source", "two", "--set", "method_options={attention_dim: 8}"], False),
    ],
    ids=["scratch", "finetune", "finetune-tmu", "memory-transfer", "paper-cell", "relative-norm", "layer1-nodistill", "l2sp",
         "knowledge-flow", "art"],
)
def test_train_every_method_then_evaluate(zoo, tmp_path, method_args, distills):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist3", "--zoo", str(zoo), "--out", str(out), *tiny_args(*method_args)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["test"]["mse_per_frame"]) == 3 and results["test"]["mse"] > 0
    assert results["params_train"] >= results["params_test"] > 0
    assert (out / "config.yaml").is_file() and (out / "best.safetensors").is_file()
    # the saved test-time model alone reproduces the run's test metrics (ART's file carries its teachers)
    assert main(["evaluate", str(out / "best.safetensors"), "--json", str(out / "again.json")]) == 0
    again = json.loads((out / "again.json").read_text())["results"][str(out / "best.safetensors")]
    assert again["mse"] == pytest.approx(results["test"]["mse"], rel=1e-5)
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all((r["distill"] != "") == distills for r in rows)
    if distills:
        assert all(float(r["distill"]) > 0 for r in rows)


def test_distill_norm_reaches_the_loss_and_bad_names_are_refused(zoo):
    from transmem.data import load_dataset
    from transmem.training.trainer import build_method

    parts = {}
    for norm in ("element", "frame"):
        config = load_config(None, [*TINY, "method=memory-transfer", "sources=[one]", f"distill_norm={norm}",
                                    "data.name=mnist3"])
        data = load_dataset("mnist3", "train", size=4, frame_size=16, seq_len=6, t_in=3)
        torch.manual_seed(0)
        method = build_method(config, data, zoo=str(zoo))
        frames = torch.from_numpy(data.frames[:2])
        parts[norm] = method(frames, mask=torch.ones(2, frames.shape[1] - 2), t_in=3)[1]
    c, h, w = 8, 8, 8  # hidden 8 on a 16x16 frame with patch 2
    assert parts["frame"]["distill"] == pytest.approx(parts["element"]["distill"] * c * h * w, rel=1e-5)
    with pytest.raises(ValueError, match="distill_norm 'sum' is not one of"):
        load_config(None, [*TINY, "method=memory-transfer", "sources=[one]", "distill_norm=sum"])
    config.distill_norm = "sum"  # set in code, past the config check: the method refuses it too
    with pytest.raises(ValueError, match="distill_norm 'sum' is not one of"):
        build_method(config, data, zoo=str(zoo))


def test_memory_transfer_init_from_copies_one_sources_backbone(zoo):
    from transmem.data import load_dataset
    from transmem.models.zoo import load_source
    from transmem.training.trainer import build_method

    data = load_dataset("mnist3", "train", size=4, frame_size=16, seq_len=6, t_in=3)
    config = load_config(None, [*TINY, "method=memory-transfer", "sources=[one, two]",
                                "method_options={init_from: two}"])
    method = build_method(config, data, zoo=str(zoo))
    source = load_source("two", str(zoo)).net.state_dict()
    target = method.net.state_dict()
    for name, value in source.items():  # gate convolutions: the source's rows first, the transfer-gate rows after
        assert torch.equal(target[name][: value.shape[0]], value), name
    assert target["cells.0.gate_conv.weight"].shape[0] > source["cells.0.gate_conv.weight"].shape[0]
    config = load_config(None, [*TINY, "method=memory-transfer", "sources=[one]", "method_options={init_from: two}"])
    with pytest.raises(ValueError, match="init_from 'two' is not one of this run's sources \\(one\\)"):
        build_method(config, data, zoo=str(zoo))


def test_memory_transfer_init_from_auto_starts_from_the_source_with_the_lowest_zero_shot_error(zoo, capsys):
    """auto picks the source whose predictions of the validation clips have the lowest MSE/frame (computed here by
    hand), copies its weights, names it in the method's config, and leaves the RNG as it was: the target is the
    same network as with that source named."""
    from transmem.data import load_dataset
    from transmem.models.zoo import load_source
    from transmem.training.trainer import build_method

    data = load_dataset("mnist3", "train", size=4, frame_size=16, seq_len=6, t_in=3)
    valid = load_dataset("mnist3", "valid", size=6, frame_size=16, seq_len=6, t_in=3)
    clips = torch.from_numpy(valid.frames)
    by_hand = {}
    for name in ("one", "two"):
        with torch.no_grad():
            pred = load_source(name, str(zoo)).net.predict(clips[:, :3], horizon=3).clamp(0, 1)
        by_hand[name] = float((pred - clips[:, 3:]).pow(2).sum(dim=(2, 3, 4)).mean())
    best = min(by_hand, key=by_hand.get)
    config = load_config(None, [*TINY, "method=memory-transfer", "sources=[one, two]", "method_options={init_from: auto}"])
    torch.manual_seed(0)
    auto = build_method(config, data, zoo=str(zoo), valid=valid)
    assert auto.config.method_options == {"init_from": best}
    assert config.method_options == {"init_from": "auto"}  # the caller's config is left as it was
    out = capsys.readouterr().out
    assert f"init_from auto: {best} (zero-shot MSE/frame on the validation split: one {by_hand['one']:.2f}, " \
           f"two {by_hand['two']:.2f})" in out
    named = load_config(None, [*TINY, "method=memory-transfer", "sources=[one, two]", f"method_options={{init_from: {best}}}"])
    torch.manual_seed(0)
    reference = build_method(named, data, zoo=str(zoo)).net.state_dict()
    for key, value in auto.net.state_dict().items():
        assert torch.equal(value, reference[key]), key
    with pytest.raises(ValueError, match="init_from: auto chooses a source by its error on the validation split"):
        build_method(config, data, zoo=str(zoo))


def test_init_from_auto_leaves_the_global_rng_as_it_was(zoo, monkeypatch):
    """Scoring the sources may draw random numbers (a stochastic source's noise); the target's initialisation
    after it must not depend on that."""
    from transmem.data import load_dataset
    from transmem.evaluation import ranking

    def noisy_zero_shot(source, data, **kw):
        return {"mse": float(torch.rand(100).sum())}

    monkeypatch.setattr(ranking, "zero_shot", noisy_zero_shot)
    valid = load_dataset("mnist3", "valid", size=4, frame_size=16, seq_len=6, t_in=3)
    from transmem.models.zoo import load_source

    sources = [load_source(n, str(zoo)) for n in ("one", "two")]  # building a network draws from the RNG itself
    torch.manual_seed(0)
    before = torch.get_rng_state()
    assert ranking.best_by_zero_shot(sources, valid)[0] in ("one", "two")
    assert torch.equal(torch.get_rng_state(), before)


def test_a_run_with_init_from_auto_records_its_choice_and_keeps_it_on_resume(zoo, tmp_path, monkeypatch):
    """config.yaml and results.json name the chosen source; resumed, the run keeps the source it began from even
    when a fresh choice would differ (a source re-pretrained since): the weights are the checkpoint's."""
    from transmem.evaluation import ranking

    sets = [*TINY, "method=memory-transfer", "sources=[one, two]", "method_options={init_from: auto}",
            f"out={tmp_path / 'run'}", "precision=fp32"]
    monkeypatch.setattr(ranking, "best_by_zero_shot", lambda sources, data, **kw: ("two", {"one": 2.0, "two": 1.0}))
    Trainer(load_config(None, [*sets, "iterations=2"]), zoo=str(zoo), progress=False).run()
    assert yaml_load(tmp_path / "run" / "config.yaml")["method_options"] == {"init_from": "two"}
    monkeypatch.setattr(ranking, "best_by_zero_shot", lambda sources, data, **kw: ("one", {"one": 1.0, "two": 2.0}))
    results = Trainer(load_config(None, sets), zoo=str(zoo), progress=False).run(resume=True)
    assert results["config"]["method_options"] == {"init_from": "two"}
    assert yaml_load(tmp_path / "run" / "config.yaml")["method_options"] == {"init_from": "two"}
    named = load_config(None, [*sets, "method_options={init_from: one}"])
    with pytest.raises(TrainingError, match="other settings \\(method_options\\)"):
        Trainer(named, zoo=str(zoo), progress=False).run(resume=True)


def yaml_load(path):
    import yaml

    return yaml.safe_load(Path(path).read_text())


def test_evaluate_predict_and_gates_from_checkpoints(zoo, tmp_path, capsys):
    out = tmp_path / "mt"
    assert main(["train", "--dataset", "mnist3", "--method", "memory-transfer", "--source", "one", "--source", "two",
                 "--tmu-cell", "paper", "--zoo", str(zoo), "--out", str(out), *tiny_args()]) == 0  # TMUs in both layers
    best = str(out / "best.safetensors")
    assert main(["evaluate", best, str(zoo / "one" / "model.safetensors"), "--json", str(tmp_path / "e.json"),
                 "--csv", str(tmp_path / "e.csv")]) == 0
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["dataset"] == "mnist3" and doc["n_sequences"] == 8 and len(doc["results"]) == 2
    assert len(list(csv.reader(open(tmp_path / "e.csv")))) == 1 + 2 * 3
    # predict from the user's own frames: npy, a folder of PNGs, a GIF
    frames = np.random.default_rng(0).random((5, 16, 16)).astype(np.float32)
    np.save(tmp_path / "mine.npy", frames)
    assert main(["predict", best, str(tmp_path / "mine.npy"), "--horizon", "4", "--out", str(tmp_path / "p")]) == 0
    pred = np.load(tmp_path / "p" / "prediction.npy")
    assert pred.shape == (4, 1, 16, 16) and (tmp_path / "p" / "prediction.png").stat().st_size > 0
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray((f * 255).astype(np.uint8)).save(folder / f"f{i}.png")
    assert main(["predict", best, str(folder), "--out", str(tmp_path / "q"), "--t-in", "3"]) == 0
    assert np.load(tmp_path / "q" / "prediction.npy").shape[0] >= 1
    gif = Image.open(tmp_path / "q" / "prediction.gif")
    assert gif.n_frames >= 2
    # gates: per-source averages in (0, 1) and a picture
    capsys.readouterr()
    assert main(["gates", best, "--size", "8", "--out", str(tmp_path / "g")]) == 0
    g = json.loads((tmp_path / "g" / "gates.json").read_text())
    assert set(g["mean"]) == {"one", "two"} and all(0 < v < 1 for v in g["mean"].values())
    assert set(g["per_layer"]) == {"0", "1"}
    assert (tmp_path / "g" / "gates.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "transfer gates" in printed and "memory scale, mean |C_t| at step 1, 3, 5 of 5" in printed
    assert set(g["memory_scale"]) == {"0", "1"} and all(len(v) == 5 and min(v) > 0 for v in g["memory_scale"].values())


def _run_config(out, iterations=6, extra=()):
    return load_config(None, TINY + [f"out={out}", f"iterations={iterations}", "checkpoint_every=3", "val_every=3",
                                     *extra])


# the cosine schedule with a warm-up: the learning rate of a resumed step must come from the step alone; the savp
# backbone with its GAN: the latent noise of a resumed step must come from the step alone
@pytest.mark.parametrize("schedule", [(), ("lr_schedule=cosine", "warmup_fraction=0.34"),
                                      ("model.backbone=savp", "lambda_adv=0.1")], ids=["constant", "cosine", "savp-gan"])
def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path, monkeypatch, schedule):
    def config(out):
        return _run_config(out, extra=schedule)

    Trainer(config(tmp_path / "full"), progress=False).run()
    original = Trainer.train_step
    calls = {"n": 0}

    def killed_after_four(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # the process dies during step 5; the step-3 checkpoint remains
        return original(self, *a, **k)

    monkeypatch.setattr(Trainer, "train_step", killed_after_four)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config(tmp_path / "cut"), progress=False).run()
    monkeypatch.setattr(Trainer, "train_step", original)
    assert load_file(str(tmp_path / "cut" / "last.safetensors"))["optim/0.step"].item() == 3
    from transmem.checkpoint import load_checkpoint

    first_session = load_checkpoint(tmp_path / "cut" / "last.safetensors")[1]["elapsed_s"]
    resumed = Trainer(config(tmp_path / "cut"), progress=False)
    tic = time.perf_counter()
    results = resumed.run(resume=True)
    # the wall time counts both sessions: the first one's (to its checkpoint) plus this one's
    assert first_session > 0 and first_session < results["elapsed_s"] <= first_session + time.perf_counter() - tic
    full = load_file(str(tmp_path / "full" / "last.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "last.safetensors"))
    assert full.keys() == cut.keys()
    for k in full:
        assert torch.equal(full[k], cut[k]), k
    rows = list(csv.DictReader(open(tmp_path / "cut" / "log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    # the learning curve: one validation row per validation step, the same as the uninterrupted run's
    valid = [list(csv.DictReader(open(tmp_path / run / "valid.csv"))) for run in ("full", "cut")]
    assert [int(r["step"]) for r in valid[1]] == [3, 6]
    assert valid[0] == valid[1] and all(float(r["mse"]) > 0 and 0 < float(r["ssim"]) <= 1 for r in valid[1])


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from transmem.training.methods.base import Scratch

    original = Scratch.forward
    calls = {"n": 0}

    def nan_at_step_five(self, frames, **kw):
        calls["n"] += 1
        loss, parts = original(self, frames, **kw)
        return (loss * float("nan"), parts) if calls["n"] == 5 else (loss, parts)

    monkeypatch.setattr(Scratch, "forward", nan_at_step_five)
    cfg = _run_config(tmp_path / "run")
    with pytest.raises(TrainingError, match="loss became nan at step 4.*last good checkpoint"):
        Trainer(cfg, progress=False).run()
    assert load_file(str(tmp_path / "run" / "last.safetensors"))["optim/0.step"].item() == 3


def test_corrupt_truncated_and_hostile_checkpoints_give_one_line_errors(zoo, tmp_path, capsys):
    good = zoo / "one" / "model.safetensors"
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    hostile = tmp_path / "hostile.safetensors"
    import pickle

    hostile.write_bytes(pickle.dumps({"net": "boom"}))
    for bad in (truncated, garbage, hostile):
        capsys.readouterr()
        assert main(["evaluate", str(bad), "--dataset", "mnist1", "--size", "4"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(bad) in err and "corrupt" in err
    # resuming from a damaged training checkpoint refuses and overwrites nothing
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.safetensors").write_bytes(data[:100])
    assert main(["train", "--dataset", "mnist1", "--out", str(run), "--resume", *tiny_args()]) == 2
    assert (run / "last.safetensors").read_bytes() == data[:100]
    assert not (run / "best.safetensors").exists()


def test_a_source_whose_shapes_do_not_fit_is_refused(zoo, tmp_path, capsys):
    code = main(["train", "--dataset", "mnist3", "--method", "memory-transfer", "--source", "one", "--zoo", str(zoo),
                 "--out", str(tmp_path / "r"), *tiny_args("--set", "model.hidden=[16,16]")])
    assert code == 2
    err = capsys.readouterr().err
    assert "(8, 8, 8)" in err and "(16, 8, 8)" in err and "hidden" in err
    assert main(["train", "--set", "model.hiden=[8]", "--out", str(tmp_path / "x")]) == 2
    assert "unknown config key(s) model.hiden" in capsys.readouterr().err
    assert main(["train", "--method", "finetune", "--out", str(tmp_path / "y"), *tiny_args()]) == 2
    assert "takes 1 source(s), got 0" in capsys.readouterr().err


def test_torchrun_on_two_cpu_processes_follows_the_single_process_losses(tmp_path):
    common = ["-m", "transmem", "train", "--dataset", "mnist2", *tiny_args(), "--set", "iterations=5",
              "--set", "val_every=5", "--set", "precision=fp32"]  # a probe in each run could choose differently
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    # --standalone: torchrun picks a free port (a fixed one can be taken by another job on a shared machine)
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            *common, "--out", str(tmp_path / "two")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert multi.returncode == 0, multi.stderr[:2000] + "\n...\n" + multi.stderr[-2000:]
    losses = lambda p: [float(r["loss"]) for r in csv.DictReader(open(p / "log.csv"))]  # noqa: E731
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b) == 5
    np.testing.assert_allclose(a, b, rtol=1e-3)  # float sums in another order
    assert json.loads((tmp_path / "two" / "precision.json").read_text())["train"] == "fp32"  # rank 0's, shared


def test_scheduled_sampling_masks_follow_the_schedule():
    from transmem.training.trainer import sampling_mask

    cfg = load_config(None, ["iterations=100", "schedule={start: 1.0, end: 0.0, decay_fraction: 0.5}"])
    first, eta0 = sampling_mask(0, cfg, 512, 20, 10)
    mid, eta_mid = sampling_mask(25, cfg, 512, 20, 10)
    late, eta_end = sampling_mask(80, cfg, 512, 20, 10)
    assert (eta0, eta_mid, eta_end) == (1.0, 0.5, 0.0)
    assert first.shape == (512, 18) and first.min() == 1  # teacher forcing at the start
    assert (late[:, :9] == 1).all() and (late[:, 9:] == 0).all()  # inputs true, outputs predicted at the end
    assert abs(mid[:, 9:].mean().item() - 0.5) < 0.03 and (mid[:, :9] == 1).all()
    assert not torch.equal(mid[0], mid[1]) or not torch.equal(mid[1], mid[2])  # per sample
    rev = load_config(None, ["iterations=100", "schedule={reverse: true, reverse_start: 0.5, decay_fraction: 1.0}"])
    early, _ = sampling_mask(0, rev, 512, 20, 10)
    assert abs(early[:, :9].mean().item() - 0.5) < 0.03  # reverse scheduled sampling on the input steps
    assert (sampling_mask(100, rev, 64, 20, 10)[0][:, :9] == 1).all()
    torch.testing.assert_close(sampling_mask(7, cfg, 8, 20, 10)[0], sampling_mask(7, cfg, 8, 20, 10)[0])


def test_batches_are_epoch_permutations_fixed_by_seed():
    from transmem.training.trainer import batch_indices

    epoch = torch.cat([batch_indices(s, 20, 4, seed=1) for s in range(5)])
    assert sorted(epoch.tolist()) == list(range(20))
    assert not torch.equal(batch_indices(0, 20, 4, seed=1), batch_indices(5, 20, 4, seed=1))
    assert torch.equal(batch_indices(3, 20, 4, seed=1), batch_indices(3, 20, 4, seed=1))
    with pytest.raises(ValueError, match="fewer than batch_size"):
        batch_indices(0, 3, 4, seed=0)


def test_training_options_clip_reverse_time_bf16_and_fraction(tmp_path):
    cfg = load_config(None, TINY + [f"out={tmp_path}", "iterations=2", "grad_clip=0.5", "reverse_time=true",
                                    "schedule={reverse: true}", "precision=bf16", "data.fraction=0.5"])
    trainer = Trainer(cfg, progress=False)
    assert len(trainer.data["train"]) == 8  # half of 16
    before = [p.detach().clone() for p in trainer.method.trainable_parameters()]
    calls = {"n": 0}
    original = trainer.train_step

    def counting(*a, **k):
        calls["n"] += 1
        return original(*a, **k)

    trainer.train_step = counting
    results = trainer.run()
    assert calls["n"] == 4  # reverse_time: a second step on the time-reversed clip each iteration
    assert trainer.precision.train == "bf16" and results["precision"]["train"] == "bf16"
    assert json.loads((tmp_path / "precision.json").read_text())["reason"] == "set in the config"
    steps = [p.detach() - b for p, b in zip(trainer.method.trainable_parameters(), before)]
    assert any(s.abs().sum() > 0 for s in steps)
    assert math.isfinite(results["test"]["mse"])
    with pytest.raises(ValueError, match="precision"):
        Trainer(load_config(None, TINY + [f"out={tmp_path / 'p'}", "precision=fp8"]), progress=False)


def test_command_line_flags_reach_the_config(tmp_path):
    from transmem.cli import build_parser
    from transmem.cli.train import resolve_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("iterations: 7\nbeta: 0.5\nmodel: {hidden: [16]}\n")
    args = build_parser().parse_args([
        "train", "--config", str(cfg_file), "--dataset", "mnist2", "--fraction", "0.5", "--backbone", "predrnn",
        "--hidden", "4,4", "--patch", "2", "--kernel", "3", "--iterations", "3", "--batch-size", "4", "--lr", "0.01",
        "--seed", "3", "--device", "cpu", "--out", str(tmp_path / "o"), "--method", "memory-transfer",
        "--source", "a", "--source", "b", "--beta", "0.03", "--tmu-layers", "0,1", "--tmu-cell", "paper",
        "--set", "lr=0.02"])
    cfg = resolve_config(args)
    assert (cfg.data.name, cfg.data.fraction, cfg.model.backbone, cfg.model.hidden, cfg.model.patch_size) == (
        "mnist2", 0.5, "predrnn", [4, 4], 2)
    assert (cfg.model.kernel_size, cfg.iterations, cfg.batch_size, cfg.seed, cfg.device) == (3, 3, 4, 3, "cpu")
    assert (cfg.method, cfg.sources, cfg.beta, cfg.model.tmu_layers, cfg.model.released) == (
        "memory-transfer", ["a", "b"], 0.03, [0, 1], False)
    assert cfg.lr == 0.02  # --set wins over the flags, the flags over the file
    assert load_config(cfg_file).beta == 0.5
    # the defaults are the flying-digits study's best memory transfer: the released cell, beta 0.01
    defaults = load_config(None)
    assert (defaults.model.released, defaults.beta, defaults.distill_norm) == (True, 0.01, "element")
    cfg_file.write_text("model: {released: false}\n")
    args = build_parser().parse_args(["train", "--config", str(cfg_file), "--tmu-cell", "released"])
    assert resolve_config(args).model.released is True


@pytest.mark.parametrize("backbone", ["predrnn", "mim"])
def test_train_other_backbones_from_the_command_line(zoo, tmp_path, backbone):
    out = tmp_path / backbone
    assert main(["train", "--dataset", "mnist2", "--backbone", backbone, "--method", "memory-transfer",
                 "--source", "one", "--zoo", str(zoo), "--out", str(out), *tiny_args("--iterations", "2")]) == 0
    assert json.loads((out / "results.json").read_text())["test"]["mse"] > 0


def test_a_resumed_log_keeps_its_rows_on_disk_before_any_new_row_is_written(tmp_path):
    """A run killed right after it resumed (its first new row never flushed) keeps its curve up to the checkpoint."""
    from transmem.training.trainer import VALID_FIELDS, _csv_log

    path = tmp_path / "valid.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=VALID_FIELDS)
        w.writeheader()
        w.writerows({"step": s, "mse": 30.0 - s, "ssim": 0.5} for s in (250, 500, 750))
    file, writer = _csv_log(path, VALID_FIELDS, resume_from=500)  # left open, as a killed process leaves it
    try:
        assert [int(r["step"]) for r in csv.DictReader(open(path))] == [250, 500]
        writer.writerow({"step": 750, "mse": 1.0, "ssim": 0.9})
        file.flush()
        assert [int(r["step"]) for r in csv.DictReader(open(path))] == [250, 500, 750]
    finally:
        file.close()
