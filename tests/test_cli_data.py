"""`transmem data list | show | cache`, called in-process through transmem.cli.main."""
import numpy as np
import pytest
from PIL import Image

from transmem.cli import main
from transmem.data.options import parse_options, parse_value


def test_data_list_shows_names_and_descriptions(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist1", "mnist2", "mnist3", "mnist-test-seq", "npz-thuml", "array"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "Moving MNIST, 2 flying digits" in out


def test_data_show_writes_png(tmp_path, capsys):
    out = tmp_path / "strip.png"
    code = main(["data", "show", "mnist2", "--n", "3", "--out", str(out), "--option", "frame_size=32", "-o", "seq_len=6", "-o", "t_in=3"])
    assert code == 0
    assert out.is_file() and out.stat().st_size > 0
    with Image.open(out) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert height == 3 * 32 + 2 * 2  # three rows of 32-pixel frames, 2-pixel gaps
    assert width == 6 * 32 + 5 * 2 + 4  # six frames, wider gap between input and output
    assert pixels[:32, :32].max() > 200  # a digit is drawn in the first frame
    assert str(out) in capsys.readouterr().out


def test_data_show_colormap_and_default_small_size(tmp_path):
    out = tmp_path / "radar.png"
    assert main(["data", "show", "mnist1", "--n", "2", "--out", str(out), "--cmap", "viridis", "--scale", "2"]) == 0
    with Image.open(out) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    assert rgb.shape[0] == 2 * 128 + 2
    assert (np.abs(rgb[..., 0] - rgb[..., 1]) > 20).any()  # coloured, not grey


def test_bad_dataset_name_exit_2_one_line(tmp_path, capsys):
    assert main(["data", "show", "nosuchdata", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nosuchdata" in err and "mnist2" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_bad_option_exit_2_one_line(tmp_path, capsys):
    assert main(["data", "show", "mnist1", "--out", str(tmp_path / "x.png"), "-o", "colour=red"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "colour" in err and "allowed options" in err
    assert main(["data", "show", "mnist1", "--out", str(tmp_path / "x.png"), "-o", "novalue"]) == 2
    assert "key=value" in capsys.readouterr().err
    assert main(["data", "show", "array", "--out", str(tmp_path / "x.png"), "-o", f"path={tmp_path / 'no.npy'}"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_parse_values():
    assert parse_value("3") == 3 and isinstance(parse_value("3"), int)
    assert parse_value("0.5") == 0.5
    assert parse_value("true") is True and parse_value("None") is None
    assert parse_value("0.8,0.1,0.1") == "0.8,0.1,0.1"
    assert parse_options(["frame-size=32", "path=/a=b"]) == {"frame_size": 32, "path": "/a=b"}


def test_data_cache_pregenerates(tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["data", "cache", "mnist1", "--cache-dir", str(cache), "--split", "all", "-o", "size=3", "-o", "seq_len=4", "-o", "t_in=2"])
    assert code == 0
    files = sorted(p.name for p in cache.iterdir())
    assert len([f for f in files if f.endswith(".npy")]) == 3 and len([f for f in files if f.endswith(".json")]) == 3
    assert {f.split("_")[1] for f in files} == {"train", "valid", "test"}
    out = capsys.readouterr().out
    assert "mnist1/train: 3 sequences" in out


def test_data_show_loads_only_n_sequences_by_default(tmp_path, monkeypatch):
    import transmem.data

    calls = []
    real = transmem.data.load_dataset

    def spy(name, split, **options):
        calls.append((name, split, options))
        return real(name, split, **options)

    monkeypatch.setattr(transmem.data, "load_dataset", spy)
    assert main(["data", "show", "mnist3", "--n", "2", "--out", str(tmp_path / "s.png"), "-o", "seed=4"]) == 0
    assert calls == [("mnist3", "test", {"size": 2, "seed": 4})]
    assert main(["data", "show", "mnist3", "--n", "2", "--out", str(tmp_path / "s.png"), "-o", "size=5"]) == 0
    assert calls[-1][2] == {"size": 5}


@pytest.mark.parametrize("name", ["kth-synth", "weizmann-synth", "h36m-synth", "radar-guangzhou14-synth",
                                  "radar-guangzhou16-synth", "radar-beijing-synth"])
def test_data_show_works_for_every_generated_benchmark(tmp_path, name):
    from PIL import Image

    out = tmp_path / f"{name}.png"
    assert main(["data", "show", name, "--n", "2", "--out", str(out), "-o", "frame_size=32"]) == 0
    with Image.open(out) as img:
        assert img.width > img.height > 0


def test_data_stats_command_prints_the_persistence_tables(capsys):
    assert main(["data", "stats", "--which", "radar", "--size", "6", "--radar-frame-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "radar-beijing-synth" in out and "CSI +60 min" in out
