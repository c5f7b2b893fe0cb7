"""Radar reader (PNG / NPY sequences, dBZ mappings, masks) and the generated Guangzhou / Beijing presets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from transmem.data import load_dataset
from transmem.data.synthetic import radar_fields as rd
from transmem.data.stats import RADAR_PRESETS, main as stats_main, radar_scores, radar_stats
from transmem.metrics import to_dbz
from transmem.registry import DATASETS


def _pixels(t: int, size: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, t])
    return rng.integers(0, 256, (size, size)).astype(np.uint8)


def write_png_sequence(folder: Path, n: int, seed: int) -> list[np.ndarray]:
    folder.mkdir(parents=True)
    frames = [_pixels(t, seed=seed) for t in range(n)]
    for t, img in enumerate(frames):
        Image.fromarray(img, "L").save(folder / f"frame_{t:03d}.png")
    return frames


@pytest.fixture()
def png_root(tmp_path: Path) -> tuple[Path, dict[str, list[np.ndarray]]]:
    root = tmp_path / "radar"
    seqs = {
        "train/2014-06-01": write_png_sequence(root / "train" / "2014-06-01", 24, 1),
        "train/2014-06-02": write_png_sequence(root / "train" / "2014-06-02", 20, 2),
        "valid/2014-07-01": write_png_sequence(root / "valid" / "2014-07-01", 20, 3),
        "test/2014-08-01": write_png_sequence(root / "test" / "2014-08-01", 19, 4),  # too short: skipped
        "test/2014-08-02": write_png_sequence(root / "test" / "2014-08-02", 40, 5),
    }
    return root, seqs


# --------------------------------------------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------------------------------------------
def test_png_sequences_hko7_mapping(png_root):
    root, seqs = png_root
    data = load_dataset("radar", "train", root=str(root))
    assert data.frames.shape == (2, 20, 1, 16, 16) and data.frames.dtype == np.float32
    assert (data.t_in, data.t_out) == (10, 10)
    assert data.info["dbz"] == {"scale": 70.0, "offset": -10.0}
    assert data.info["sequences"] == ["2014-06-01", "2014-06-02"]
    raw = seqs["train/2014-06-01"][7].astype(np.float64)
    np.testing.assert_allclose(data.frames[0, 7, 0], raw / 255.0, atol=1e-7)
    # the mapping stored in info turns the frames back into dBZ: 70 * pixel / 255 - 10
    dbz = to_dbz(torch.from_numpy(data.frames), **data.info["dbz"]).numpy()
    np.testing.assert_allclose(dbz[0, 7, 0], 70.0 * raw / 255.0 - 10.0, atol=1e-4)
    assert to_dbz(torch.tensor(122 / 255), **data.info["dbz"]).item() == pytest.approx(23.49, abs=0.01)


def test_png_cikm_mapping_stride_and_short_sequences(png_root):
    root, seqs = png_root
    data = load_dataset("radar", "test", root=str(root), mapping="cikm", stride=10)
    assert data.info["dbz"] == {"scale": 95.0, "offset": -10.0}
    assert data.info["skipped_short"] == 1
    assert data.info["starts"] == [0, 10, 20] and len(data) == 3
    raw = seqs["test/2014-08-02"][10 + 4].astype(np.float64)
    dbz = to_dbz(torch.from_numpy(data.frames[1, 4, 0]), **data.info["dbz"]).numpy()
    np.testing.assert_allclose(dbz, 95.0 * raw / 255.0 - 10.0, atol=1e-4)
    small = load_dataset("radar", "valid", root=str(root), frame_size=8, seq_len=12, t_in=6)
    assert small.frames.shape == (1, 12, 1, 8, 8) and (small.t_in, small.t_out) == (6, 6)
    block = seqs["valid/2014-07-01"][3].astype(np.float64).reshape(8, 2, 8, 2).mean(axis=(1, 3)) / 255
    np.testing.assert_allclose(small.frames[0, 3, 0], block, atol=1e-5)  # area average when shrinking


def test_chronological_split_without_split_folders(tmp_path):
    root = tmp_path / "flat"
    for k in range(20):
        write_png_sequence(root / f"seq{k:02d}", 20, k)
    names = {s: load_dataset("radar", s, root=str(root)).info["sequences"] for s in ("train", "valid", "test")}
    assert names["train"] == [f"seq{k:02d}" for k in range(16)]
    assert names["valid"] == ["seq16"]
    assert names["test"] == ["seq17", "seq18", "seq19"]
    custom = load_dataset("radar", "test", root=str(root), splits="0.5,0.25,0.25").info["sequences"]
    assert custom == [f"seq{k:02d}" for k in range(15, 20)]


def test_npy_dbz_mapping_and_mask(tmp_path):
    root = tmp_path / "npy"
    root.mkdir()
    rng = np.random.default_rng(0)
    dbz = rng.uniform(-20.0, 70.0, (22, 12, 12)).astype(np.float32)
    dbz[0, 0, 0] = np.nan
    np.save(root / "a.npy", dbz)
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[:4, :4] = 1  # nonzero: blank these pixels
    np.save(tmp_path / "mask.npy", mask)
    # every sequence in one split
    data = load_dataset("radar", "train", root=str(root), mapping="dbz", splits="1,0,0")
    assert data.info["dbz"] == {"scale": 70.0, "offset": -10.0}
    expected = np.clip((dbz[:20].astype(np.float64) + 10.0) / 70.0, 0, 1)
    expected[0, 0, 0] = 0.0  # NaN = no echo
    np.testing.assert_allclose(data.frames[0, :, 0], expected, atol=1e-6)
    ranged = load_dataset("radar", "train", root=str(root), mapping="dbz", dbz_range="0,80", splits="1,0,0")
    assert ranged.info["dbz"] == {"scale": 80.0, "offset": 0.0}
    np.testing.assert_allclose(ranged.frames[0, 5, 0], np.clip(dbz[5] / 80.0, 0, 1), atol=1e-6)

    mask_file = str(tmp_path / "mask.npy")
    masked = load_dataset("radar", "train", root=str(root), mapping="dbz", splits="1,0,0", mask=mask_file)
    assert masked.info["masked"] is True
    assert (masked.frames[0, :, 0, :4, :4] == 0).all()
    np.testing.assert_array_equal(masked.frames[0, :, 0, 4:, :], data.frames[0, :, 0, 4:, :])
    kept = load_dataset("radar", "train", root=str(root), mapping="dbz", splits="1,0,0", mask=mask_file,
                        mask_marks="valid")
    assert (kept.frames[0, :, 0, 4:, :] == 0).all()
    np.testing.assert_array_equal(kept.frames[0, :, 0, :4, :4], data.frames[0, :, 0, :4, :4])

    # a mask folder mirroring the sequences: <mask>/<name>.npy (T, H, W)
    per_frame = np.zeros((22, 12, 12), dtype=bool)
    per_frame[3, 5, 5] = True
    (tmp_path / "masks").mkdir()
    np.save(tmp_path / "masks" / "a.npy", per_frame)
    folder_masked = load_dataset("radar", "train", root=str(root), mapping="dbz", splits="1,0,0",
                                 mask=str(tmp_path / "masks"))
    assert folder_masked.frames[0, 3, 0, 5, 5] == 0 and data.frames[0, 3, 0, 5, 5] > 0
    assert np.count_nonzero(folder_masked.frames != data.frames) == 1


def test_png_mask_folder(png_root):
    root, _ = png_root
    masks = root.parent / "masks" / "2014-07-01"
    masks.mkdir(parents=True)
    for t in range(20):
        img = np.zeros((16, 16), np.uint8)
        img[t % 16, :] = 255
        Image.fromarray(img, "L").save(masks / f"frame_{t:03d}.png")
    data = load_dataset("radar", "valid", root=str(root), mask=str(root.parent / "masks"))
    for t in range(20):
        assert (data.frames[0, t, 0, t % 16] == 0).all()


def test_reader_errors_name_the_file(png_root, tmp_path):
    root, _ = png_root
    with pytest.raises(ValueError, match="radar: needs the option root"):
        load_dataset("radar", "train")
    with pytest.raises(ValueError, match="mapping must be one of hko7, cikm, dbz"):
        load_dataset("radar", "train", root=str(root), mapping="sevir")
    with pytest.raises(ValueError, match="PNG frames need mapping hko7 or cikm"):
        load_dataset("radar", "train", root=str(root), mapping="dbz")
    with pytest.raises(ValueError, match="dbz_range must be two numbers"):
        load_dataset("radar", "train", root=str(root), dbz_range="60,-10")

    bad = root / "train" / "2014-06-02" / "frame_005.png"
    bad.write_text("not an image at all")
    with pytest.raises(ValueError, match=r"frame_005\.png: not a readable image") as err:
        load_dataset("radar", "train", root=str(root))
    assert "\n" not in str(err.value)
    Image.new("RGB", (16, 16)).save(bad)
    with pytest.raises(ValueError, match=r"frame_005\.png: a RGB image; radar frames must be single-channel"):
        load_dataset("radar", "train", root=str(root))
    Image.new("L", (16, 12)).save(bad)
    with pytest.raises(ValueError, match=r"frame_005\.png: frame of shape \(12, 16\)"):
        load_dataset("radar", "train", root=str(root))

    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "flat.npy", np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"flat\.npy: expected a sequence shaped \(T, H, W\)"):
        load_dataset("radar", "train", root=str(npy), splits="1,0,0")
    (npy / "flat.npy").unlink()
    np.save(npy / "seq.npy", np.full((20, 8, 8), 300, np.int32))
    with pytest.raises(ValueError, match=r"seq\.npy: mapping 'hko7' expects pixel values 0-255"):
        load_dataset("radar", "train", root=str(npy), splits="1,0,0")
    np.save(npy / "seq.npy", np.zeros((20, 8, 8), np.uint8))
    np.save(tmp_path / "mask.npy", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"mask\.npy: mask of shape \(4, 4\) for frames of shape \(8, 8\)"):
        load_dataset("radar", "train", root=str(npy), splits="1,0,0", mask=str(tmp_path / "mask.npy"))
    data = (npy / "seq.npy").read_bytes()
    (npy / "seq.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"seq\.npy: not a readable \.npy file"):
        load_dataset("radar", "train", root=str(npy), splits="1,0,0")


# --------------------------------------------------------------------------------------------------------------
# generated presets
# --------------------------------------------------------------------------------------------------------------
def test_presets_registered():
    for name in RADAR_PRESETS + ("radar",):
        assert name in DATASETS.names() and DATASETS.entry(name).description


@pytest.mark.parametrize("name", RADAR_PRESETS)
def test_preset_shapes_mapping_determinism(name):
    data = load_dataset(name, "train", size=4, frame_size=32)
    assert data.frames.shape == (4, 20, 1, 32, 32) and data.frames.dtype == np.float32
    assert 0.0 <= data.frames.min() and data.frames.max() <= 1.0
    assert (data.t_in, data.t_out) == (10, 10)
    assert data.info["dbz"] == {"scale": 70.0, "offset": -10.0} and data.info["interval_min"] == 6.0
    np.testing.assert_allclose(data.frames * 255, np.rint(data.frames * 255), atol=1e-3)  # 8-bit like HKO-7 PNGs
    again = load_dataset(name, "train", size=4, frame_size=32)
    np.testing.assert_array_equal(data.frames, again.frames)
    assert not np.array_equal(data.frames, load_dataset(name, "train", size=4, frame_size=32, seed=5).frames)
    np.testing.assert_array_equal(load_dataset(name, "train", size=2, frame_size=32).frames, data.frames[:2])
    valid = load_dataset(name, "valid", size=4, frame_size=32)
    test = load_dataset(name, "test", size=4, frame_size=32)
    assert not np.array_equal(data.frames, valid.frames) and not np.array_equal(valid.frames, test.frames)


def test_preset_physical_ranges():
    """Peaks stay within 60 dBZ; echoes move with winds of 5-20 m/s (at most 7.2 km per 6 minutes)."""
    data = load_dataset("radar-guangzhou16-synth", "test", size=20, frame_size=64)
    dbz = data.frames * 70 - 10
    assert dbz.max() <= 60.5 and dbz.max() >= 45
    wet = dbz[dbz > 0]
    assert wet.min() >= rd.MIN_DBZ - 0.2  # weaker echoes are cut to no echo


def test_frame_size_keeps_the_physical_domain():
    coarse = radar_stats("radar-guangzhou14-synth", size=24, frame_size=32)
    fine = radar_stats("radar-guangzhou14-synth", size=24, frame_size=96)
    assert abs(coarse["coverage"] - fine["coverage"]) < 0.2 * fine["coverage"]
    assert abs(coarse["csi"][30] - fine["csi"][30]) < 0.1


def test_fraction_and_options():
    assert len(load_dataset("radar-beijing-synth", "train", size=8, fraction=0.25, frame_size=16)) == 2
    with pytest.raises(ValueError, match="fraction applies to the 'train' split only"):
        load_dataset("radar-beijing-synth", "valid", fraction=0.5)
    with pytest.raises(ValueError, match="dataset 'radar-beijing-synth' has no option mapping; allowed options"):
        load_dataset("radar-beijing-synth", "train", mapping="cikm")
    short = load_dataset("radar-beijing-synth", "test", size=2, frame_size=16, seq_len=8, t_in=4)
    assert short.frames.shape == (2, 8, 1, 16, 16)


def test_beijing_is_drier_and_persistence_degrades():
    stats = {n: radar_stats(n, size=60, frame_size=32) for n in RADAR_PRESETS}
    bj, gz14, gz16 = (stats[n] for n in ("radar-beijing-synth", "radar-guangzhou14-synth", "radar-guangzhou16-synth"))
    assert bj["coverage"] < 0.5 * min(gz14["coverage"], gz16["coverage"])
    assert bj["dry_fraction"] >= 0.4 and bj["dry_fraction"] > 2 * max(gz14["dry_fraction"], gz16["dry_fraction"])
    for s in stats.values():
        csi = s["csi"]
        assert set(csi) == {6, 30, 60}
        assert csi[6] > csi[30] > csi[60] > 0.0
        assert csi[6] > 0.5
        per_frame = s["csi_per_frame"]
        assert per_frame[0] > per_frame[4] > per_frame[9]


def test_radar_scores_counts_whole_set():
    """CSI from counts accumulated over the set, checked on a tiny hand-made example."""
    frames = np.zeros((2, 4, 1, 2, 2), dtype=np.float32)
    p30 = np.float32(40 / 70)  # 30 dBZ
    frames[0, 1, 0, 0, 0] = p30  # last input: 1 wet pixel
    frames[0, 2, 0, 0, :] = p30  # output +1: 2 wet pixels -> 1 hit, 1 miss
    frames[1, 1, 0, 1, 1] = p30  # last input: 1 wet pixel
    frames[1, 2, 0, 0, 0] = p30  # output +1: elsewhere -> 1 miss, 1 false alarm
    from transmem.data.base import SequenceData

    data = SequenceData("toy", "test", frames, 2, 2, {"dbz": {"scale": 70.0, "offset": -10.0}, "interval_min": 6.0})
    scores = radar_scores(data, leads=(1,))
    assert scores["csi"][6] == pytest.approx(1 / (1 + 2 + 1))
    assert scores["coverage"] == pytest.approx(5 / frames.size)
    assert scores["dry_fraction"] == 0.0


def test_stats_main_prints_radar_table(capsys):
    assert stats_main(["--which", "radar", "--size", "6", "--radar-frame-size", "16"]) == 0
    out = capsys.readouterr().out
    for name in RADAR_PRESETS:
        assert f"| {name} |" in out
    assert "CSI +60 min" in out
