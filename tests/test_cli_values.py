"""Numeric command-line values: 0 and negatives are errors with one line and exit code 2, never "not given";
and an interrupted checkpoint write leaves no temporary file behind once the run goes on."""
import numpy as np
import pytest

from transmem.checkpoint import atomic_write, remove_leftover_temporaries
from transmem.cli import main

SHIPPED = "zoo/demo-mnist1/model.safetensors"  # 32x32 one-channel frames


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.npy"
    np.save(path, np.random.default_rng(0).random((6, 32, 32)).astype(np.float32))
    return str(path)


@pytest.mark.parametrize("flag,value,message", [
    ("--horizon", "0", "argument --horizon: must be >= 1, got 0"),
    ("--horizon", "-2", "argument --horizon: must be >= 1, got -2"),
    ("--t-in", "0", "argument --t-in: must be >= 1, got 0"),
    ("--t-in", "-3", "argument --t-in: must be >= 1, got -3"),
    ("--t-in", "two", "argument --t-in: expected a whole number >= 1, got 'two'"),
])
def test_predict_refuses_non_positive_counts(tmp_path, clip, capsys, flag, value, message):
    out = tmp_path / "p"
    with pytest.raises(SystemExit) as exit_:
        main(["predict", SHIPPED, clip, flag, value, "--out", str(out)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_predict_takes_the_last_t_in_frames_and_the_given_horizon(tmp_path, clip, capsys):
    assert main(["predict", SHIPPED, clip, "--t-in", "4", "--horizon", "1", "--out", str(tmp_path / "p")]) == 0
    assert "4 input frames -> 1 predicted frames" in capsys.readouterr().out
    assert np.load(tmp_path / "p" / "prediction.npy").shape == (1, 1, 32, 32)
    assert main(["predict", SHIPPED, clip, "--t-in", "7", "--out", str(tmp_path / "q")]) == 2
    assert "--t-in 7 asks for more frames than" in capsys.readouterr().err


def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    stale = tmp_path / ".last.safetensors.abc123.tmp"  # what a SIGKILL during atomic_write leaves
    stale.write_bytes(b"")
    other = tmp_path / ".best.safetensors.xyz.tmp"
    other.write_bytes(b"")
    atomic_write(tmp_path / "last.safetensors", lambda tmp: open(tmp, "wb").write(b"new"))
    assert not stale.exists() and other.exists()  # only the temporaries of the file being written
    assert (tmp_path / "last.safetensors").read_bytes() == b"new"
    assert remove_leftover_temporaries(tmp_path) == [other] and not other.exists()


def test_resume_removes_the_temporaries_of_an_interrupted_write(tmp_path):
    from test_training import _run_config
    from transmem.training.trainer import Trainer

    config = _run_config(tmp_path / "run", iterations=3)
    Trainer(config, progress=False).run()
    stale = tmp_path / "run" / ".last.safetensors.killed.tmp"
    stale.write_bytes(b"")
    Trainer(config, progress=False).run(resume=True)
    assert not stale.exists()


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_finished_run_is_never_replaced_by_accident(tmp_path, capsys):
    from test_training import tiny_args

    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist1", "--out", str(run), *tiny_args()]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    # the same command again, and bad values that used to write config.yaml / log.csv / results.json first
    for extra in ([], ["--set", "iterations=abc"], ["--set", "batch_size=0"], ["--set", "iterations=-5"],
                  ["--set", "model.hidden=[8,"], ["--resume", "--overwrite"]):
        assert main(["train", "--dataset", "mnist1", "--out", str(run), *tiny_args(), *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert _snapshot(run) == before, extra
    assert main(["train", "--dataset", "mnist1", "--out", str(run), *tiny_args()]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite to replace it" in err
    (run / "valid.csv").write_text("a stale log\n")
    assert main(["train", "--dataset", "mnist1", "--out", str(run), *tiny_args(), "--overwrite"]) == 0
    assert (run / "valid.csv").read_text() != "a stale log\n" and (run / "results.json").is_file()


def test_a_held_run_is_refused_before_any_data_or_network_is_built(tmp_path, capsys, monkeypatch):
    """A refused command costs nothing: with a finished run in --out, neither the data nor the networks load
    (a large or mistaken config used to allocate them first)."""
    import transmem.training.trainer as trainer
    from test_training import tiny_args

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text("{}")

    def built(*args, **kwargs):
        raise AssertionError("the refused command built data or networks")

    monkeypatch.setattr(trainer, "load_splits", built)
    monkeypatch.setattr(trainer, "build_method", built)
    for command in (["train", "--dataset", "mnist1"], ["pretrain", "--dataset", "mnist1", "--name", "x",
                                                       "--zoo", str(tmp_path / "zoo")]):
        assert main([*command, "--out", str(run), *tiny_args()]) == 2
        assert "already holds a run (results.json)" in capsys.readouterr().err
    assert (run / "results.json").read_text() == "{}"


@pytest.mark.parametrize("argv, message", [
    (["evaluate", SHIPPED, "--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    (["evaluate", SHIPPED, "--size", "-1"], "argument --size: must be >= 1, got -1"),
    (["evaluate", SHIPPED, "--samples", "0"], "argument --samples: must be >= 1, got 0"),
    (["gates", SHIPPED, "--size", "0"], "argument --size: must be >= 1, got 0"),
    (["data", "show", "mnist3", "--n", "0"], "argument --n: must be >= 1, got 0"),
    (["params", "--layers", "0"], "argument --layers: must be >= 1, got 0"),
    (["train", "--iterations", "0"], "argument --iterations: must be >= 1, got 0"),
    (["pretrain", "--name", "x", "--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
])
def test_every_count_on_the_command_line_refuses_zero(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--out", str(tmp_path / "o")] if argv[0] not in ("params", "data") else argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
