"""The demo end to end at a tiny scale: sources pretrained into an empty zoo, three targets, table, pictures."""
from transmem.cli import main

TINY = ["data.train_size=16", "data.valid_size=4", "data.test_size=4", "data.options={frame_size: 16}",
        "iterations=2", "val_every=2", "batch_size=4", "model.hidden=[4]", "model.patch_size=2", "model.kernel_size=3"]


def test_demo_runs_end_to_end_and_reuses_finished_runs(tmp_path, capsys):
    args = ["demo", "--workdir", str(tmp_path / "w"), "--zoo", str(tmp_path / "zoo"), "--no-progress"]
    for item in TINY:
        args += ["--set", item]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pretraining source demo-mnist1" in out and "| TMU memory transfer | mnist1, mnist2 |" in out
    assert "transfer-gate averages" in out
    assert (tmp_path / "zoo" / "demo-mnist2" / "card.json").is_file()
    assert (tmp_path / "w" / "predictions.png").stat().st_size > 0
    table = (tmp_path / "w" / "table.md").read_text()
    assert table.count("\n| ") == 4  # header + three methods
    assert main(args) == 0  # the second run reuses everything
    again = capsys.readouterr().out
    assert "pretraining" not in again and again.count("reusing") == 3
