"""Human-motion readers (KTH, Weizmann, Human3.6M) on small fixtures, and the synthetic domains."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transmem.data import load_dataset
from transmem.data.stats import human_persistence, main as stats_main, persistence_mse
from transmem.registry import DATASETS


# --------------------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------------------
def _pattern(t: int, h: int, w: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A frame with a moving bright square on a dark ramp (distinct per frame), uint8."""
    rng = np.random.default_rng(seed + 1000 * t)
    img = np.tile(np.linspace(20, 90, w, dtype=np.float32), (h, 1))
    y, x = 10 + 2 * t, 15 + 5 * t
    img[y : y + 30, x : x + 30] = 230
    img = np.clip(img + rng.integers(0, 5, (h, w)), 0, 255).astype(np.uint8)
    if channels == 3:
        return np.stack([img, 255 - img, img // 2], axis=-1)
    return img


def write_avi(path: Path, frames: list[np.ndarray]) -> None:
    av = pytest.importorskip("av")
    h, w = frames[0].shape[:2]
    rgb = frames[0].ndim == 3
    with av.open(str(path), "w") as container:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "bgr24" if rgb else "gray"
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="rgb24" if rgb else "gray")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_tree(folder: Path, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for i, img in enumerate(frames, start=1):
        Image.fromarray(img).save(folder / f"image_{i:04d}.png")


def _resized(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR)).astype(np.float32) / 255


@pytest.fixture()
def kth_root(tmp_path: Path) -> tuple[Path, dict[str, list[np.ndarray]]]:
    videos = {
        "person01_walking_d1_uncomp": [_pattern(t, 120, 160, seed=1) for t in range(12)],
        "person17_running_d3_uncomp": [_pattern(t, 120, 160, seed=17) for t in range(9)],
    }
    root = tmp_path / "kth"
    write_tree(root / "walking" / "person01_walking_d1_uncomp", videos["person01_walking_d1_uncomp"])
    write_tree(root / "running" / "person17_running_d3_uncomp", videos["person17_running_d3_uncomp"])
    videos["person15_boxing_d2_uncomp"] = [_pattern(t, 120, 160, seed=15) for t in range(10)]
    (root / "avi").mkdir()
    write_avi(root / "avi" / "person15_boxing_d2_uncomp.avi", videos["person15_boxing_d2_uncomp"])
    (root / "README.txt").write_text("not a video")
    return root, videos


# --------------------------------------------------------------------------------------------------------------
# KTH
# --------------------------------------------------------------------------------------------------------------
def test_kth_frame_tree_windows_and_values(kth_root):
    root, videos = kth_root
    data = load_dataset("kth", "train", root=str(root), frame_size=32, stride=2)
    # 12 frames, windows of 8 every 2 frames: starts 0, 2, 4
    assert data.frames.shape == (3, 8, 1, 32, 32) and data.frames.dtype == np.float32
    assert (data.t_in, data.t_out) == (4, 4)
    assert data.info["starts"] == [0, 2, 4]
    frames = videos["person01_walking_d1_uncomp"]
    np.testing.assert_allclose(data.frames[1, 3, 0], _resized(frames[2 + 3], 32), atol=1e-6)
    np.testing.assert_allclose(data.frames[2, 7, 0], _resized(frames[4 + 7], 32), atol=1e-6)


def test_kth_avi_valid_split_and_rgb(kth_root):
    root, videos = kth_root
    data = load_dataset("kth", "valid", root=str(root), frame_size=24, channels=3)
    assert data.frames.shape == (1, 8, 3, 24, 24)  # 10 frames, stride 8: one window
    assert data.info["videos"] == ["person15_boxing_d2_uncomp"]
    np.testing.assert_array_equal(data.frames[:, :, 0], data.frames[:, :, 2])  # grey repeated
    np.testing.assert_allclose(data.frames[0, 6, 1], _resized(videos["person15_boxing_d2_uncomp"][6], 24), atol=1e-6)


def test_kth_test_split_persons_and_actions(kth_root):
    root, _ = kth_root
    data = load_dataset("kth", "test", root=str(root), frame_size=16, seq_len=6, t_in=3, frame_step=1, stride=3)
    assert data.frames.shape == (2, 6, 1, 16, 16) and (data.t_in, data.t_out) == (3, 3)
    assert set(data.info["videos"]) == {"person17_running_d3_uncomp"}
    with pytest.raises(ValueError, match="no video of split 'test'"):
        load_dataset("kth", "test", root=str(root), actions="walking", frame_size=16)
    with pytest.raises(ValueError, match="unknown actions jumping"):
        load_dataset("kth", "train", root=str(root), actions="jumping")


def test_kth_truncated_avi_names_the_file(kth_root):
    root, _ = kth_root
    avi = root / "avi" / "person15_boxing_d2_uncomp.avi"
    data = avi.read_bytes()
    avi.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"person15_boxing_d2_uncomp\.avi.*truncated") as err:
        load_dataset("kth", "valid", root=str(root), frame_size=16)
    assert "\n" not in str(err.value)


def test_kth_non_image_frame_names_the_file(kth_root):
    root, _ = kth_root
    bad = root / "walking" / "person01_walking_d1_uncomp" / "image_0003.png"
    bad.write_text("this is not a png")
    with pytest.raises(ValueError, match=r"image_0003\.png: not a readable image") as err:
        load_dataset("kth", "train", root=str(root), frame_size=16)
    assert "\n" not in str(err.value)


def test_kth_needs_root_and_subsets_are_nested(kth_root, tmp_path):
    root, _ = kth_root
    with pytest.raises(ValueError, match="kth: needs the option root"):
        load_dataset("kth", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no KTH video"):
        load_dataset("kth", "train", root=str(tmp_path / "empty"))
    every = load_dataset("kth", "train", root=str(root), frame_size=16, stride=1)  # 5 windows
    two = load_dataset("kth", "train", root=str(root), frame_size=16, stride=1, size=2, seed=3)
    assert len(every) == 5 and len(two) == 2
    assert set(two.info["starts"]) <= set(every.info["starts"])
    with pytest.raises(ValueError, match="holds 5 sequences but 6"):
        load_dataset("kth", "train", root=str(root), frame_size=16, stride=1, size=6)


# --------------------------------------------------------------------------------------------------------------
# Weizmann
# --------------------------------------------------------------------------------------------------------------
def test_weizmann_actor_split_and_colour(tmp_path):
    root = tmp_path / "weizmann"
    root.mkdir()
    clips = {}
    for name, seed in (("daria_walk", 1), ("lena_run1", 2), ("lyova_run", 3), ("moshe_jump", 4), ("shahar_wave2", 5)):
        clips[name] = [_pattern(t, 144, 180, channels=3, seed=seed) for t in range(9)]
        write_avi(root / f"{name}.avi", clips[name])
    train = load_dataset("weizmann", "train", root=str(root), frame_size=32, channels=3)
    assert train.frames.shape == (2, 8, 3, 32, 32)
    assert train.info["videos"] == ["daria_walk", "lena_run1"]
    np.testing.assert_allclose(train.frames[0, 5].transpose(1, 2, 0), _resized(clips["daria_walk"][5], 32), atol=1e-6)
    assert not np.allclose(train.frames[0, :, 0], train.frames[0, :, 1])  # real colour, not grey repeated
    grey = load_dataset("weizmann", "train", root=str(root), frame_size=32)
    assert grey.frames.shape[2] == 1
    assert load_dataset("weizmann", "valid", root=str(root), frame_size=16).info["videos"] == ["lyova_run"]
    test = load_dataset("weizmann", "test", root=str(root), frame_size=16)
    assert test.info["videos"] == ["moshe_jump", "shahar_wave2"]
    only_wave = load_dataset("weizmann", "test", root=str(root), frame_size=16, actions="wave")
    assert only_wave.info["videos"] == ["shahar_wave2"]
    only_run = load_dataset("weizmann", "train", root=str(root), frame_size=16, actions="run")
    assert only_run.info["videos"] == ["lena_run1"]


def test_weizmann_garbage_avi_names_the_file(tmp_path):
    pytest.importorskip("av")
    root = tmp_path / "weizmann"
    root.mkdir()
    (root / "daria_bend.avi").write_bytes(b"RIFF....AVI garbage" * 10)
    with pytest.raises(ValueError, match=r"daria_bend\.avi: cannot decode video"):
        load_dataset("weizmann", "train", root=str(root), frame_size=16)


# --------------------------------------------------------------------------------------------------------------
# Human3.6M
# --------------------------------------------------------------------------------------------------------------
def _h36m_frame(t: int) -> np.ndarray:
    """64x64 RGB: black border, a coloured centre half (rows/cols 16..48) whose level changes with t."""
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[16:48, 16:48] = (200, 120 + 10 * t, 40)
    return img


def test_h36m_flat_folder(tmp_path):
    root = tmp_path / "h36m"
    root.mkdir()
    for subject in (1, 8, 9):
        for t in range(10):
            Image.fromarray(_h36m_frame(t)).save(root / f"S{subject}_Walking_1.54138969_{t + 1:06d}.jpg", quality=95)
    for t in range(10):  # other actions and names are ignored
        Image.fromarray(_h36m_frame(0)).save(root / f"S1_Eating_1.54138969_{t + 1:06d}.jpg")
        Image.fromarray(_h36m_frame(0)).save(root / f"S1_WalkDog_1.54138969_{t + 1:06d}.jpg")
    (root / "notes.txt").write_text("hello")
    train = load_dataset("h36m", "train", root=str(root), frame_size=16, stride=2)
    assert train.frames.shape == (2, 8, 3, 16, 16)  # 10 frames, windows at 0 and 2
    assert train.info["videos"] == ["S1_Walking_1.54138969"] * 2
    # centre half crop: the black border is gone, the colour of frame t is everywhere
    for k, t in enumerate(range(2, 10)):
        expected = np.array([200, 120 + 10 * t, 40]) / 255.0
        np.testing.assert_allclose(train.frames[1, k].mean(axis=(1, 2)), expected, atol=0.03)
    uncropped = load_dataset("h36m", "train", root=str(root), frame_size=16, crop=1.0)
    assert uncropped.frames[0, 0, 0, 0, 0] < 0.05 < train.frames[0, 0, 0, 0, 0]  # border visible without the crop
    assert load_dataset("h36m", "valid", root=str(root), frame_size=16).info["videos"] == ["S8_Walking_1.54138969"]
    assert load_dataset("h36m", "test", root=str(root), frame_size=16).info["videos"] == ["S9_Walking_1.54138969"]
    grey = load_dataset("h36m", "test", root=str(root), frame_size=16, channels=1)
    assert grey.frames.shape[2] == 1

    (root / "S9_Walking_1.54138969_000003.jpg").write_bytes(b"\xff\xd8\xff garbage, not a jpeg")
    with pytest.raises(ValueError, match=r"S9_Walking_1\.54138969_000003\.jpg: not a readable image"):
        load_dataset("h36m", "test", root=str(root), frame_size=16)
    with pytest.raises(ValueError, match="crop must be"):
        load_dataset("h36m", "train", root=str(root), crop=0.0)
    half = load_dataset("h36m", "train", root=str(root), frame_size=16, stride=2, crop="0.5")  # CLI strings
    np.testing.assert_array_equal(half.frames, train.frames)


# --------------------------------------------------------------------------------------------------------------
# synthetic domains
# --------------------------------------------------------------------------------------------------------------
SYNTH = ("kth-synth", "weizmann-synth", "h36m-synth")


def test_synth_registered_with_descriptions():
    for name in SYNTH + ("kth", "weizmann", "h36m"):
        assert name in DATASETS.names()
        assert DATASETS.entry(name).description


@pytest.mark.parametrize("name, channels", [("kth-synth", 1), ("weizmann-synth", 1), ("h36m-synth", 3)])
def test_synth_shapes_range_and_determinism(name, channels):
    data = load_dataset(name, "train", size=6, frame_size=48)
    assert data.frames.shape == (6, 8, channels, 48, 48)
    assert data.frames.dtype == np.float32
    assert 0.0 <= data.frames.min() and data.frames.max() <= 1.0
    assert (data.t_in, data.t_out) == (4, 4)
    assert data.frames.std() > 0.02  # not blank
    # every sequence moves (a figure may rest for a frame, e.g. at the turning point of a clap)
    assert np.abs(np.diff(data.frames, axis=1)).sum(axis=(1, 2, 3, 4)).min() > 1.0
    again = load_dataset(name, "train", size=6, frame_size=48)
    np.testing.assert_array_equal(data.frames, again.frames)
    other_seed = load_dataset(name, "train", size=6, frame_size=48, seed=1)
    assert not np.array_equal(data.frames, other_seed.frames)
    prefix = load_dataset(name, "train", size=3, frame_size=48)
    np.testing.assert_array_equal(prefix.frames, data.frames[:3])
    # 8-bit video: values are multiples of 1/255, so the cache can store uint8
    np.testing.assert_allclose(data.frames * 255, np.rint(data.frames * 255), atol=1e-3)


def test_synth_splits_differ_and_fraction():
    splits = {s: load_dataset("kth-synth", s, size=4, frame_size=32).frames for s in ("train", "valid", "test")}
    assert not np.array_equal(splits["train"], splits["valid"])
    assert not np.array_equal(splits["train"], splits["test"])
    assert not np.array_equal(splits["valid"], splits["test"])
    assert len(load_dataset("kth-synth", "train", size=8, fraction=0.5, frame_size=32)) == 4
    with pytest.raises(ValueError, match="fraction applies to the 'train' split only"):
        load_dataset("kth-synth", "test", size=8, fraction=0.5)


def test_synth_options():
    data = load_dataset("kth-synth", "test", size=2, frame_size=32, channels=3, seq_len=10, t_in=6, actions="wave,clap")
    assert data.frames.shape == (2, 10, 3, 32, 32) and (data.t_in, data.t_out) == (6, 4)
    np.testing.assert_array_equal(data.frames[:, :, 0], data.frames[:, :, 1])
    grey = load_dataset("h36m-synth", "test", size=2, frame_size=32, channels=1)
    assert grey.frames.shape == (2, 8, 1, 32, 32)
    with pytest.raises(ValueError, match="dataset 'kth-synth' has no option colour; allowed options: .*frame_size"):
        load_dataset("kth-synth", "train", colour=1)
    with pytest.raises(ValueError, match="t_in=8 must be smaller than seq_len=8"):
        load_dataset("kth-synth", "train", size=1, t_in=8)
    with pytest.raises(ValueError, match="unknown actions box"):
        load_dataset("h36m-synth", "train", size=1, actions="box")


def test_in_place_actions_stay_put_and_walkers_travel():
    walk = load_dataset("kth-synth", "test", size=8, frame_size=64, actions="run").frames
    clap = load_dataset("kth-synth", "test", size=8, frame_size=64, actions="clap").frames

    def centre_x(frames):  # column centroid of the dark figure on the light background
        mass = np.clip(0.55 - frames[:, :, 0], 0, None)
        cols = np.arange(frames.shape[-1])
        return (mass.sum(axis=2) * cols).sum(axis=-1) / mass.sum(axis=(2, 3))

    travel_run = np.abs(centre_x(walk)[:, -1] - centre_x(walk)[:, 0]).mean()
    travel_clap = np.abs(centre_x(clap)[:, -1] - centre_x(clap)[:, 0]).mean()
    assert travel_run > 8 and travel_clap < 2


def test_target_is_harder_than_sources():
    kth = human_persistence("kth-synth", size=40, frame_size=64)
    weiz = human_persistence("weizmann-synth", size=40, frame_size=64)
    h36m = human_persistence("h36m-synth", size=40, frame_size=64)
    assert h36m["mse_mean"] > 1.5 * kth["mse_mean"] > 1.5 * weiz["mse_mean"]
    # persistence gets worse with the lead time
    for r in (kth, h36m):
        assert r["mse"][1] < r["mse"][2] < r["mse"][4]
    # harder even when the grey source is repeated to RGB
    kth_rgb = human_persistence("kth-synth", size=40, frame_size=64, channels=3)
    assert h36m["mse_mean"] > kth_rgb["mse_mean"]


def test_persistence_mse_formula():
    frames = np.zeros((2, 8, 1, 4, 4), dtype=np.float32)
    frames[:, 4:, 0, 0, :2] = 0.5  # 2 pixels off by 0.5 from +1 on
    frames[1, 7, 0] = 1.0  # sequence 1, +4: every pixel off by 1
    mse = persistence_mse(frames, 4)
    assert mse[1] == pytest.approx(0.5) and mse[3] == pytest.approx(0.5)
    assert mse[4] == pytest.approx((0.5 + 16.0) / 2)


def test_stats_main_prints_human_table(capsys):
    assert stats_main(["--which", "human", "--size", "3"]) == 0
    out = capsys.readouterr().out
    for name in SYNTH:
        assert f"| {name} |" in out
    assert "MSE +4" in out
