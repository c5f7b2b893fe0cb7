"""The savp backbone end to end on tiny data: every method trains it, a TMU-savp learns from a plain and a stochastic
source and predicts without them, best-of-N evaluation and N-sample prediction from the command line, the GAN
switch, and the parameter table."""
import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from transmem.cli import main
from transmem.data import load_dataset
from transmem.evaluation.samples import sample_futures
from transmem.models.io import load_model
from transmem.training.config import load_config
from transmem.training.trainer import build_method

TINY = [
    "data.options={frame_size: 16, seq_len: 6, t_in: 3}",
    "data.train_size=16", "data.valid_size=8", "data.test_size=8",
    "model.hidden=[8,8]", "model.kernel_size=3", "model.patch_size=2",
    "model.latent_channels=2", "model.latent_hidden=4",
    "iterations=3", "batch_size=4", "val_every=3", "log_every=1", "checkpoint_every=3",
]


def tiny_args(*extra, savp=True):
    out = []
    for item in TINY if savp else [t for t in TINY if not t.startswith("model.latent")]:
        out += ["--set", item]
    return out + (["--backbone", "savp"] if savp else []) + ["--no-progress", *extra]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A plain ConvLSTM source and a savp source of the targets' shapes."""
    root = tmp_path_factory.mktemp("zoo")
    for name, dataset, stochastic in (("plain", "mnist1", False), ("sav", "mnist2", True)):
        assert main(["pretrain", "--dataset", dataset, "--name", name, "--zoo", str(root),
                     "--out", str(root.parent / f"pre-{name}"), *tiny_args(savp=stochastic)]) == 0
    return root


@pytest.fixture(scope="module")
def tmu_run(zoo, tmp_path_factory):
    out = tmp_path_factory.mktemp("tmu") / "run"
    assert main(["train", "--dataset", "mnist3", "--method", "memory-transfer", "--source", "plain", "--source", "sav",
                 "--tmu-cell", "paper", "--zoo", str(zoo), "--out", str(out), *tiny_args()]) == 0
    return out


def test_a_tmu_savp_trains_with_two_sources_and_predicts_without_them(tmu_run):
    rows = list(csv.DictReader(open(tmu_run / "log.csv")))
    assert all(float(r["distill"]) > 0 and float(r["extra"]) > 0 for r in rows)  # distillation, and the KL term
    net, meta, tensors = load_model(tmu_run / "best.safetensors")
    assert net.stochastic and net.config.n_sources == 2 and net.config.transfer_layers == (0, 1)
    assert not any("bank" in k or "sources" in k for k in tensors)  # the file holds the target alone
    future = net.predict(torch.rand(2, 3, 1, 16, 16), horizon=3, generator=torch.Generator().manual_seed(0))
    assert future.shape == (2, 3, 1, 16, 16) and torch.isfinite(future).all()


def test_gates_of_a_tmu_savp_come_from_its_test_time_samples(tmu_run, tmp_path):
    for name in ("g", "h"):
        assert main(["gates", str(tmu_run / "best.safetensors"), "--size", "4", "--out", str(tmp_path / name)]) == 0
    g, h = (json.loads((tmp_path / n / "gates.json").read_text()) for n in "gh")
    assert set(g["mean"]) == {"plain", "sav"} and g == h  # prior samples from a fixed seed


def test_saved_configs_carry_the_stochastic_keys_only_where_they_matter():
    plain, stochastic = load_config(None, []), load_config(None, ["model.backbone=savp"])
    keys = lambda d: set(d) | {f"model.{k}" for k in d["model"]}  # noqa: E731
    new = {"lambda_kl", "lambda_adv", "model.latent_channels", "model.latent_hidden"}
    assert not keys(plain.to_dict()) & new  # a deterministic run's config reads as before savp existed
    assert keys(stochastic.to_dict()) >= new and stochastic.to_dict()["lambda_kl"] == 1e-3
    assert "lambda_adv" in load_config(None, ["lambda_adv=0.5"]).to_dict()  # a value that is not the default stays
    from transmem.training.config import config_from_dict

    assert config_from_dict(plain.to_dict()) == plain and config_from_dict(stochastic.to_dict()) == stochastic
    from transmem.models import NetConfig

    assert "latent_channels" not in NetConfig().to_dict()
    assert NetConfig(backbone="savp").to_dict()["latent_channels"] == 8


def test_evaluate_reports_best_of_n_beside_the_mean_and_reproduces_from_the_seed(tmu_run, tmp_path, capsys):
    best = str(tmu_run / "best.safetensors")
    results = json.loads((tmu_run / "results.json").read_text())
    # one sample from seed 0, as the run's test did with its batch size (the noise of a batch is one draw)
    assert main(["evaluate", best, "--batch-size", "4", "--json", str(tmp_path / "one.json")]) == 0
    one = json.loads((tmp_path / "one.json").read_text())["results"][best]
    assert one["mse"] == pytest.approx(results["test"]["mse"], rel=1e-5)
    docs = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        capsys.readouterr()
        assert main(["evaluate", best, "--samples", "3", "--seed", seed, "--json", str(tmp_path / f"{name}.json"),
                     "--csv", str(tmp_path / f"{name}.csv")]) == 0
        docs[name] = json.loads((tmp_path / f"{name}.json").read_text())["results"][best]
    printed = capsys.readouterr().out
    assert "best of 3" in printed and "mean of 3" in printed and "3 samples per sequence (seed 2)" in printed
    r = docs["a"]
    assert r["samples"] == 3 and r["best"]["n_sequences"] == r["mean"]["n_sequences"] == 8
    assert r["best"]["mse"] <= r["mean"]["mse"] and r["best"]["mae"] <= r["mean"]["mae"]
    assert r["best"]["ssim"] >= r["mean"]["ssim"] and r["best"]["psnr"] >= r["mean"]["psnr"]
    assert {k: docs["b"][k] for k in ("best", "mean")} == {k: r[k] for k in ("best", "mean")}
    assert docs["c"]["mean"]["mse"] != r["mean"]["mse"]
    table = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert [(row["row"], row["frame"]) for row in table] == [(k, str(f)) for k in ("best", "mean") for f in (1, 2, 3)]


def test_predict_writes_n_futures_reproducibly(tmu_run, tmp_path):
    best = str(tmu_run / "best.safetensors")
    np.save(tmp_path / "mine.npy", np.random.default_rng(0).random((4, 16, 16)).astype(np.float32))
    for name, seed in (("p", "3"), ("q", "3"), ("r", "4")):
        assert main(["predict", best, str(tmp_path / "mine.npy"), "--horizon", "2", "--samples", "5", "--seed", seed,
                     "--out", str(tmp_path / name)]) == 0
    futures = {n: np.load(tmp_path / n / "prediction.npy") for n in "pqr"}
    assert futures["p"].shape == (5, 2, 1, 16, 16)
    assert np.array_equal(futures["p"], futures["q"]) and not np.array_equal(futures["p"], futures["r"])
    assert not np.array_equal(futures["p"][0], futures["p"][1])
    strip = Image.open(tmp_path / "p" / "prediction.png")
    single = tmp_path / "s"
    assert main(["predict", best, str(tmp_path / "mine.npy"), "--horizon", "2", "--out", str(single)]) == 0
    assert strip.height > Image.open(single / "prediction.png").height  # input + 4 sample rows against 2 rows
    gif = Image.open(tmp_path / "p" / "prediction.gif")
    assert gif.n_frames == 6 and gif.width == 4 * 16 + 3 * 2  # 4 input + 2 predicted frames; 4 samples side by side


def test_deterministic_models_refuse_samples_in_one_line(zoo, tmp_path, capsys):
    plain = str(zoo / "plain" / "model.safetensors")
    np.save(tmp_path / "mine.npy", np.random.default_rng(0).random((4, 16, 16)).astype(np.float32))
    for argv in (["evaluate", plain, "--samples", "2"],
                 ["predict", plain, str(tmp_path / "mine.npy"), "--samples", "2", "--out", str(tmp_path / "p")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--samples 2 needs a stochastic backbone (savp)" in err[0] and "convlstm" in err[0]
    assert not (tmp_path / "p").exists()


METHODS = {
    "scratch": [],
    "finetune": ["sav"],
    "memory-transfer": ["plain", "sav"],
    "l2sp": ["sav"],
    "knowledge-flow": ["plain", "sav"],
    "art": ["plain", "sav"],
}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_samples_a_savp_target(zoo, method):
    config = load_config(None, [*TINY, "model.backbone=savp", f"method={method}", f"sources={METHODS[method]}",
                                "data.name=mnist3"])
    data = load_dataset("mnist3", "train", size=2, frame_size=16, seq_len=6, t_in=3)
    m = build_method(config, data, zoo=str(zoo))
    frames = torch.from_numpy(data.frames[:2])
    seeds = []
    if method == "knowledge-flow":  # both of its student rollouts must draw the same noise
        forward = m.net.forward
        m.net.forward = lambda *a, **k: (seeds.append(k["generator"].initial_seed()), forward(*a, **k))[1]
        m.set_progress(0.5)
    loss, parts = m(frames, mask=torch.ones(2, 4), t_in=3)
    assert parts["kl"] > 0 and parts["total"] == pytest.approx(float(loss.detach()))
    loss.backward()
    assert all(p.grad is not None for p in m.trainable_parameters())
    if method == "knowledge-flow":
        assert len(seeds) == 2 and seeds[0] == seeds[1]
    predictor = m.predictor().eval()
    futures = sample_futures(predictor, frames[:, :3], 2, n=3, generator=torch.Generator().manual_seed(0))
    again = sample_futures(predictor, frames[:, :3], 2, n=3, generator=torch.Generator().manual_seed(0))
    assert futures.shape == (2, 3, 2, 1, 16, 16) and torch.equal(futures, again)


def test_the_gan_is_one_config_key_and_stays_out_of_the_test_model(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "--dataset", "mnist3", "--out", str(out), *tiny_args("--set", "lambda_adv=0.1")]) == 0
    last = load_file(str(out / "last.safetensors"))
    assert any(k.startswith("method/stochastic_terms.discriminator.") for k in last)
    assert not any("discriminator" in k for k in load_file(str(out / "best.safetensors")))
    results = json.loads((out / "results.json").read_text())
    assert results["params_train"] > results["params_test"]
    capsys.readouterr()
    assert main(["train", "--dataset", "mnist3", "--out", str(tmp_path / "no"),
                 *tiny_args("--set", "lambda_adv=0.1", savp=False)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lambda_adv" in err[0] and "'convlstm' is deterministic" in err[0]


def test_params_lists_savp_with_and_without_the_tmu(capsys):
    assert main(["params", "--backbone", "savp", "--frame-size", "16", "--patch", "2", "--layers", "2", "--hidden",
                 "8", "--kernel", "3", "--sources", "2", "--json"]) == 0
    rows = {(r["model"], r["variant"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    # by hand: 2x2 patches (4 channels), Z = 8 latent channels, 32-wide posterior and prior, 3x3 filters
    conv = lambda cin, hid, gates: (cin + hid) * gates * hid * 9 + gates * hid  # noqa: E731  (a fused gate conv)
    latent = 2 * (conv(4, 32, 4) + 32 * 16 + 16)  # posterior and prior: a ConvLSTM cell and a 1x1 head (mu, logvar)
    head = 8 * 4
    plain = conv(12, 8, 4) + conv(8, 8, 4) + head + latent  # layer 0 reads [patches; z]
    paper = conv(12, 8, 6) + conv(8, 8, 6) + 2 * (8 * 16 + 2 * 16) + head + latent  # + 2 gates, distillers, norms
    released = conv(12, 8, 6) + 2 * 48 * 64 + 8 * 16 + 2 * 2 * 8 * 64 + conv(8, 8, 4) + head + latent
    assert rows[("savp", "plain")]["test"] == plain == 94_720
    assert rows[("TMU-savp", "paper")]["test"] == paper and rows[("TMU-savp", "paper")]["train"] == paper + 2 * plain
    assert rows[("TMU-savp", "released")]["test"] == released and rows[("TMU-savp", "released")]["tmu_layers"] == [0]
    assert main(["params", "--backbone", "savp"]) == 0
    table = capsys.readouterr().out
    assert "savp" in table and "TMU-savp" in table
