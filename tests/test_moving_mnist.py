"""Generated Moving MNIST (mnist1/2/3): geometry, bouncing, disjoint digit pools, seeding, fraction, cache."""
import json

import numpy as np
import pytest

from transmem.data import cache_path, load_dataset
from transmem.data.readers.mnist_digits import POOL_FRACTIONS, digit_pool, pool_indices, source_images
from transmem.data.synthetic import flying_digits as mm
from transmem.registry import DATASETS


def test_registered_names():
    for name in ("mnist1", "mnist2", "mnist3"):
        assert name in DATASETS
        assert "Moving MNIST" in DATASETS.entry(name).description


def test_shape_dtype_range():
    data = load_dataset("mnist2", "test", size=6)
    assert data.frames.shape == (6, 20, 1, 64, 64)
    assert data.frames.dtype == np.float32
    assert (data.t_in, data.t_out) == (10, 10)
    assert data.frames.min() == 0.0 and 0.9 < data.frames.max() <= 1.0
    assert np.allclose(data.frames * 255, np.rint(data.frames * 255), atol=1e-3)  # generated as uint8
    assert data.info["digit_ids"].shape == (6, 2)


def test_paper_default_sizes():
    # a tiny canvas keeps the paper-size sets cheap; the sizes are what is checked
    tiny = dict(frame_size=8, digit_size=2, seq_len=2, t_in=1)
    assert len(load_dataset("mnist1", "train", **tiny)) == 10_000
    assert len(load_dataset("mnist1", "valid", **tiny)) == 2_000
    assert len(load_dataset("mnist1", "test", **tiny)) == 3_000


def test_bounce_closed_form_reflects_velocity():
    pos = mm.bounce(np.array([10.0]), np.array([4.0]), 12, 20.0)[0]
    assert pos.tolist() == [10, 14, 18, 18, 14, 10, 6, 2, 2, 6, 10, 14]
    pos = mm.bounce(np.array([0.0]), np.array([-3.0]), 4, 20.0)[0]
    assert pos.tolist() == [0, 3, 6, 9]


def _boxes(frames):
    """Top-left corner of the nonzero bounding box per frame: (n, T, 2)."""
    mask = frames > 0
    rows = mask.any(axis=3)
    cols = mask.any(axis=2)
    return np.stack([rows.argmax(axis=2), cols.argmax(axis=2)], axis=-1)


def test_square_digit_stays_whole_and_bounces():
    pool = np.full((3, 28, 28), 255, dtype=np.uint8)  # a digit that fills its box: the box is the visible square
    frames, _ = mm.generate(pool, 64, num_digits=1, seed_key=(7, 0, 1), seq_len=40)
    assert frames.shape == (64, 40, 64, 64)
    # never clipped: the whole 28x28 square is drawn in every frame
    assert ((frames > 0).sum(axis=(2, 3)) == 28 * 28).all()
    corner = _boxes(frames)
    limit = 64 - 28
    assert corner.min() >= 0 and corner.max() <= limit
    assert np.array_equal(frames[0, 0, corner[0, 0, 0] : corner[0, 0, 0] + 28, corner[0, 0, 1] : corner[0, 0, 1] + 28], pool[0])
    step = np.diff(corner, axis=1)  # (n, T-1, 2)
    assert np.abs(step).max() <= 5  # about 3.6 px per frame
    reversals = 0
    for i in range(len(frames)):
        for axis in range(2):
            moves = [(t, s) for t, s in enumerate(step[i, :, axis]) if s != 0]
            for (t0, s0), (t1, s1) in zip(moves, moves[1:]):
                if np.sign(s0) != np.sign(s1):  # velocity reversed: it must be at an edge
                    reversals += 1
                    at = corner[i, t0 + 1 : t1 + 1, axis]
                    assert min(at.min(), limit - at.max()) <= 4, (i, axis, corner[i, :, axis])
    assert reversals > 20


def test_real_single_digit_is_never_clipped():
    data = load_dataset("mnist1", "valid", size=20, seq_len=30, t_in=10)
    u8 = np.rint(data.frames[:, :, 0] * 255).astype(np.int64)
    ink = u8.sum(axis=(2, 3))  # a whole digit in every frame: the same ink in every frame of a sequence
    assert (ink > 0).all()
    assert (ink == ink[:, :1]).all()


def test_render_matches_naive_reference_with_max():
    pool = digit_pool("test")[0]
    n, seq_len, digits = 12, 5, 3
    frames, used = mm.generate(pool, n, num_digits=digits, seed_key=(5, 2, 3), seq_len=seq_len)
    # the same draws as generate's first chunk, pasted one pixel block at a time
    rng = np.random.default_rng([5, 2, 3, 0])
    ids = rng.integers(0, len(pool), size=(mm.CHUNK, digits))
    corners = mm.trajectories(rng, mm.CHUNK, digits, seq_len, 64 - 28, mm.SPEED)
    assert np.array_equal(ids[:n], used)
    expected = np.zeros((n, seq_len, 64, 64), dtype=np.uint8)
    for i in range(n):
        for t in range(seq_len):
            for d in range(digits):
                r, c = corners[i, d, t]
                block = expected[i, t, r : r + 28, c : c + 28]
                np.maximum(block, pool[ids[i, d]], out=block)
    assert np.array_equal(frames, expected)
    overlap = np.abs(corners[:n, 0] - corners[:n, 1]).max(axis=-1) < 28
    assert overlap.any()  # the reference did exercise overlapping digits


def test_pools_disjoint_and_used_per_split():
    n = len(source_images())
    assert n == 5000
    pools = {s: set(pool_indices(s, n).tolist()) for s in ("train", "valid", "test")}
    assert not pools["train"] & pools["valid"]
    assert not pools["train"] & pools["test"]
    assert not pools["valid"] & pools["test"]
    assert pools["train"] | pools["valid"] | pools["test"] == set(range(n))
    assert {s: len(p) for s, p in pools.items()} == {s: int(f * n) for s, f in POOL_FRACTIONS.items()}
    # content level: no image of one pool appears in another
    content = {s: {img.tobytes() for img in digit_pool(s)[0]} for s in pools}
    assert not content["train"] & content["test"] and not content["train"] & content["valid"]
    assert not content["valid"] & content["test"]
    # generated sequences only use their split's pool
    for split in ("train", "valid", "test"):
        ids = load_dataset("mnist3", split, size=30, seq_len=2, t_in=1).info["digit_ids"]
        assert set(ids.ravel().tolist()) <= pools[split]


def test_same_seed_same_data_different_seed_or_split_differs():
    a = load_dataset("mnist2", "train", size=5, seed=3)
    b = load_dataset("mnist2", "train", size=5, seed=3)
    c = load_dataset("mnist2", "train", size=5, seed=4)
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    v = load_dataset("mnist2", "valid", size=5, seed=3)
    assert not np.array_equal(a.frames, v.frames)
    one = load_dataset("mnist1", "train", size=5, seed=3)
    assert not np.array_equal(one.frames, a.frames)


def test_smaller_size_is_prefix():
    big = load_dataset("mnist1", "test", size=mm.CHUNK + 5, seq_len=3, t_in=1)
    small = load_dataset("mnist1", "test", size=5, seq_len=3, t_in=1)
    assert np.array_equal(big.frames[:5], small.frames)
    tail = load_dataset("mnist1", "test", size=mm.CHUNK + 2, seq_len=3, t_in=1)
    assert np.array_equal(big.frames[: mm.CHUNK + 2], tail.frames)


def test_fraction_option():
    full = load_dataset("mnist2", "train", size=40, seq_len=4, t_in=2)
    half = load_dataset("mnist2", "train", size=40, fraction=0.5, seq_len=4, t_in=2)
    double = load_dataset("mnist2", "train", size=40, fraction=2.0, seq_len=4, t_in=2)
    quarter = load_dataset("mnist2", "train", size=40, fraction=0.25, seq_len=4, t_in=2)
    assert (len(quarter), len(half), len(full), len(double)) == (10, 20, 40, 80)
    assert np.array_equal(half.frames, full.frames[:20])
    assert np.array_equal(double.frames[:40], full.frames)
    with pytest.raises(ValueError, match="train"):
        load_dataset("mnist2", "test", size=4, fraction=0.5)
    for bad in (0.0, -0.5, 2.5):
        with pytest.raises(ValueError, match="fraction"):
            load_dataset("mnist2", "train", size=4, fraction=bad)


def test_frame_size_scales_digits_and_speed():
    data = load_dataset("mnist1", "test", size=8, frame_size=32)
    assert data.frames.shape == (8, 20, 1, 32, 32)
    assert data.info["digit_size"] == 14 and data.info["speed"] == pytest.approx(1.8)
    ink = np.rint(data.frames[:, :, 0] * 255).astype(np.int64).sum(axis=(2, 3))
    assert (ink > 0).all() and (ink == ink[:, :1]).all()
    bigger = load_dataset("mnist1", "test", size=2, frame_size=48, digit_size=30, speed=2)
    assert bigger.frames.shape[-1] == 48 and bigger.info["digit_size"] == 30
    with pytest.raises(ValueError, match="digit_size"):
        load_dataset("mnist1", "test", size=2, frame_size=16, digit_size=20)


def test_seq_len_and_t_in():
    data = load_dataset("mnist3", "valid", size=3, seq_len=12, t_in=4)
    assert data.frames.shape[1] == 12 and (data.t_in, data.t_out) == (4, 8)
    with pytest.raises(ValueError, match="t_in"):
        load_dataset("mnist3", "valid", size=3, seq_len=12, t_in=12)


def test_unknown_option_names_dataset_and_allowed():
    with pytest.raises(ValueError) as err:
        load_dataset("mnist2", "test", size=2, colour="red")
    message = str(err.value)
    assert "mnist2" in message and "colour" in message and "frame_size" in message and "\n" not in message
    with pytest.raises(ValueError, match="num_digits"):
        load_dataset("mnist2", "test", size=2, num_digits=3)


def test_unknown_split_and_bad_size():
    with pytest.raises(ValueError, match="split"):
        load_dataset("mnist1", "training", size=2)
    with pytest.raises(ValueError, match="size"):
        load_dataset("mnist1", "test", size=0)
    with pytest.raises(KeyError, match="unknown dataset"):
        load_dataset("mnist9", "test")


def test_cache_round_trip(tmp_path, monkeypatch):
    options = dict(size=7, seed=2, seq_len=6, t_in=3)
    first = load_dataset("mnist2", "valid", cache_dir=tmp_path, **options)
    path = cache_path("mnist2", "valid", cache_dir=tmp_path, **options)
    assert path.is_file() and path.with_suffix(".json").is_file()
    stored = np.load(path)
    assert stored.dtype == np.uint8 and stored.shape == (7, 6, 1, 64, 64)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert (meta["t_in"], meta["t_out"]) == (3, 3)

    def fail(*args, **kwargs):
        raise AssertionError("the cache was not reused")

    monkeypatch.setattr(mm, "generate", fail)
    again = load_dataset("mnist2", "valid", cache_dir=tmp_path, **options)
    assert np.array_equal(again.frames, first.frames) and again.frames.dtype == np.float32
    assert np.array_equal(again.info["digit_ids"], first.info["digit_ids"])
    assert (again.t_in, again.t_out, again.split, again.name) == (3, 3, "valid", "mnist2")
    # every option is part of the key: a different one is not served from the cache
    assert cache_path("mnist2", "valid", cache_dir=tmp_path, **{**options, "seed": 3}) != path
    assert cache_path("mnist2", "valid", cache_dir=tmp_path, **{**options, "speed": 2.0}) != path
    assert cache_path("mnist2", "train", cache_dir=tmp_path, **options) != path
    with pytest.raises(AssertionError, match="not reused"):
        load_dataset("mnist2", "valid", cache_dir=tmp_path, **{**options, "seed": 3})


def test_generation_is_vectorised_fast():
    import time

    start = time.perf_counter()
    frames, _ = mm.generate(digit_pool("train")[0], 1000, num_digits=3, seed_key=(0, 0, 3))
    assert frames.shape == (1000, 20, 64, 64)
    assert time.perf_counter() - start < 5.0  # ~0.07 s here; a per-pixel Python loop would take minutes


def test_splits_use_different_random_streams(monkeypatch):
    # with one common digit pool the splits would coincide if they shared a seed
    same_pool = digit_pool("train")
    monkeypatch.setattr(mm, "digit_pool", lambda split, root=None: same_pool)
    frames = {s: load_dataset("mnist1", s, size=4, seq_len=3, t_in=1).frames for s in ("train", "valid", "test")}
    assert not np.array_equal(frames["train"], frames["valid"])
    assert not np.array_equal(frames["valid"], frames["test"])
    assert not np.array_equal(frames["train"], frames["test"])
