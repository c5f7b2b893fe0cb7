"""`transmem rank-sources`: the three signals per source, and their rank agreement with measured results."""
import json

import pytest
import torch

from transmem.cli import main
from transmem.evaluation.ranking import SourceRow, agreement, measured_finetune, ranking_table, ranks
from transmem.models.memory_bank import convert_frames

TINY = ["data.options={frame_size: 16, seq_len: 6, t_in: 3}", "data.train_size=16", "data.valid_size=8",
        "data.test_size=8", "model.hidden=[8]", "model.kernel_size=3", "model.patch_size=2", "iterations=3",
        "batch_size=4", "val_every=3", "log_every=1", "checkpoint_every=3", "precision=fp32"]


def sets(items):
    return [a for item in items for a in ("--set", item)]


def test_rank_agreement_is_spearman_by_hand():
    # ranks 1,2,3 against 1,3,2: d^2 = 2, rho = 1 - 6 * 2 / (3 * (9 - 1)) = 0.5
    assert agreement({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 10.0, "b": 30.0, "c": 20.0}, higher_first=False) == \
        {"rho": pytest.approx(0.5), "n": 3}
    # a higher gate ranks first: 0.9, 0.5, 0.7 -> 1, 3, 2, as the measured 10, 30, 20
    assert agreement({"a": 0.9, "b": 0.5, "c": 0.7}, {"a": 10.0, "b": 30.0, "c": 20.0}, higher_first=True)["rho"] == \
        pytest.approx(1.0)
    assert agreement({"a": 1.0}, {"a": 2.0, "b": 1.0}, higher_first=False) == {"rho": None, "n": 1}
    assert ranks({"x": 3.0, "y": 1.0}) == {"y": 1, "x": 2} and ranks({"x": 3.0, "y": 1.0}, higher_first=True)["x"] == 1


LIKE = {"data": {"name": "mnist3", "fraction": 1.0}, "model": {"backbone": "convlstm"}, "iterations": 3}


def _result(path, method, sources, mse, **changes):
    config = {"method": method, "sources": sources, **LIKE, **changes}
    path.write_text(json.dumps({"config": config, "test": {"mse": mse}}))


def test_measured_finetuning_is_read_from_matching_result_files(tmp_path):
    _result(tmp_path / "f-a-s0.json", "finetune", ["zoo/a"], 10.0)
    _result(tmp_path / "f-a-s1.json", "finetune", ["a"], 12.0)
    _result(tmp_path / "f-a-quarter.json", "finetune", ["a"], 30.0, data={"name": "mnist3", "fraction": 0.25})
    _result(tmp_path / "f-a-long.json", "finetune", ["a"], 9.0, iterations=30)
    _result(tmp_path / "f-b.json", "finetune", ["b"], 5.0, data={"name": "kth-synth", "fraction": 1.0})
    _result(tmp_path / "scratch.json", "scratch", [], 20.0)
    _result(tmp_path / "mt.json", "memory-transfer", ["a", "b"], 9.0)
    (tmp_path / "baselines.json").write_text('{"data": {}, "results": {}}')  # not a run's result: skipped
    found = measured_finetune(sorted(tmp_path.glob("*.json")), like=LIKE)
    assert set(found) == {"a"} and found["a"].mse == 11.0 and found["a"].seeds == 2
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json cannot be read as JSON"):
        measured_finetune([tmp_path / "bad.json"], like=LIKE)


def test_the_table_shows_each_value_with_its_rank():
    rows = [SourceRow("a", 30.0, gate_mean=0.4, finetune_mse=12.0, finetune_seeds=3),
            SourceRow("b", 20.0, gate_mean=0.6, finetune_mse=11.0, finetune_seeds=1), SourceRow("c", 25.0)]
    table, agree = ranking_table(rows)
    assert "| a | 30.00 (3) | 0.400 (2) | 12.00 (2, 3) |" in table and "| c | 25.00 (2) | - | - |" in table
    assert agree["zero_shot"]["rho"] == pytest.approx(1.0) and agree["gates"]["n"] == 2


def test_frames_convert_between_grey_rgb_and_sizes():
    grey = torch.rand(2, 3, 1, 8, 8)
    rgb = convert_frames(grey, channels=3, size=(8, 8))
    assert rgb.shape == (2, 3, 3, 8, 8)
    torch.testing.assert_close(convert_frames(rgb, channels=1, size=(8, 8)), grey)  # luma weights sum to 1
    small = convert_frames(grey, channels=1, size=(4, 4))
    torch.testing.assert_close(small[0, 0, 0, 0, 0], grey[0, 0, 0, :2, :2].mean())  # area: the 2x2 block's mean


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    for name, dataset in (("one", "mnist1"), ("two", "mnist2")):
        assert main(["pretrain", "--dataset", dataset, "--name", name, "--zoo", str(root), "--no-progress",
                     "--out", str(tmp_path_factory.mktemp(f"rank-pre-{name}")), *sets(TINY)]) == 0
    return str(root)


def test_rank_sources_end_to_end(zoo, tmp_path, capsys):
    from transmem.training.config import load_config

    # The target's config keeps its own length and batch: --iterations (the short run's) and --batch-size (the
    # evaluations') must not become the config's, or no result of the target's length would match.
    target = [item for item in TINY if not item.startswith(("iterations=", "batch_size="))]
    like = load_config(None, target + ["data.name=mnist3"]).to_dict()
    assert like["iterations"] != 2 and like["batch_size"] != 3
    results = tmp_path / "results"
    results.mkdir()
    for name, mse in (("one", 30.0), ("two", 20.0)):
        doc = {"config": {**like, "method": "finetune", "sources": [name]}, "test": {"mse": mse}}
        (results / f"ft-{name}.json").write_text(json.dumps(doc))
    out = tmp_path / "rank"
    args = ["rank-sources", "--dataset", "mnist3", "--source", "one", "--source", "two", "--zoo", zoo,
            "--iterations", "2", "--batch-size", "3", "--results", str(results), "--out", str(out), "--no-progress",
            *sets(target)]
    assert main(args) == 0
    doc = json.loads((out / "ranking.json").read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    assert set(rows) == {"one", "two"} and rows["two"]["finetune_mse"] == 20.0
    assert all(0 < r["gate_mean"] < 1 and r["zero_shot_mse"] > 0 for r in rows.values())
    # two ranks first by finetuning; the gates agree (+1) exactly when they rank two first too
    agrees = rows["two"]["gate_mean"] > rows["one"]["gate_mean"]
    assert doc["agreement"]["gates"] == {"rho": pytest.approx(1.0 if agrees else -1.0), "n": 2}
    short = out / "short-transfer-it2"
    assert (short / "best.safetensors").is_file() and (short / "precision.json").is_file()
    log = (short / "log.csv").read_text()
    assert main(args) == 0  # the short run is finished: it is read back, not retrained
    assert (short / "log.csv").read_text() == log
    assert "agreement of gates with measured finetuning" in capsys.readouterr().out


def test_rank_sources_refuses_bad_input(zoo, tmp_path, capsys):
    base = ["rank-sources", "--dataset", "mnist3", "--zoo", zoo, "--out", str(tmp_path), *sets(TINY)]
    assert main(base + ["--source", "one", "--source", "one"]) == 2
    assert "a source is given twice" in capsys.readouterr().err
    assert main(base + ["--source", "one", "--results", str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(base + ["--source", "one", "--iterations", "-1"]) == 2
    assert "iterations must be >= 0" in capsys.readouterr().err


def test_rank_sources_without_the_short_run(zoo, tmp_path):
    out = tmp_path / "rank"
    assert main(["rank-sources", "--dataset", "mnist3", "--source", "one", "--source", "two", "--zoo", zoo,
                 "--iterations", "0", "--out", str(out), "--no-progress", *sets(TINY)]) == 0
    doc = json.loads((out / "ranking.json").read_text())
    assert all(r["gate_mean"] is None for r in doc["rows"]) and doc["agreement"]["gates"] == {"rho": None, "n": 0}
    assert not any(out.glob("short-transfer*"))  # no training at all
