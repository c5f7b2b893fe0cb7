"""Readers of user files, on small fixtures written in the real formats: idx(.gz), mnist_test_seq.npy, thuml npz,
generic npy/npz; plus the one-line errors for truncated files, wrong shapes, NaN and wrong dtypes."""
import gzip
import struct

import numpy as np
import pytest

from transmem.data import load_dataset
from transmem.data.readers.mnist_digits import pool_indices, read_idx


def _one_line_naming(err, path):
    message = str(err.value)
    assert str(path) in message, message
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------------------------
# MNIST idx files
# ---------------------------------------------------------------------------------------------------------------
def write_idx_images(path, images, gz=True):
    header = struct.pack(">IIII", 0x803, len(images), 28, 28)
    payload = header + images.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def test_read_idx_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(9, 28, 28), dtype=np.uint8)
    write_idx_images(tmp_path / "train-images-idx3-ubyte.gz", images)
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), images)
    write_idx_images(tmp_path / "plain", images, gz=False)
    assert np.array_equal(read_idx(tmp_path / "plain"), images)
    labels = np.arange(9, dtype=np.uint8)
    (tmp_path / "labels").write_bytes(struct.pack(">II", 0x801, 9) + labels.tobytes())
    assert np.array_equal(read_idx(tmp_path / "labels"), labels)


def test_read_idx_errors(tmp_path):
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx_images(path, images, gz=False)
    path.write_bytes(path.read_bytes()[:-100])  # truncated data
    with pytest.raises(ValueError, match="truncated") as err:
        read_idx(path)
    _one_line_naming(err, path)
    bad = tmp_path / "bad-magic"
    bad.write_bytes(struct.pack(">IIII", 0x804, 1, 28, 28) + bytes(784))
    with pytest.raises(ValueError, match="magic") as err:
        read_idx(bad)
    _one_line_naming(err, bad)
    gz = tmp_path / "cut.gz"
    write_idx_images(gz, images)
    gz.write_bytes(gz.read_bytes()[:40])  # truncated gzip stream
    with pytest.raises(ValueError) as err:
        read_idx(gz)
    _one_line_naming(err, gz)


def test_generation_from_mnist_root(tmp_path):
    rng = np.random.default_rng(1)
    images = np.zeros((60, 28, 28), dtype=np.uint8)
    images[:, 6:22, 6:22] = rng.integers(1, 256, size=(60, 16, 16))
    write_idx_images(tmp_path / "train-images-idx3-ubyte.gz", images)
    data = load_dataset("mnist1", "test", size=10, seq_len=3, t_in=1, mnist_root=str(tmp_path))
    ids = data.info["digit_ids"].ravel()
    assert ids.max() < 60
    assert set(ids.tolist()) <= set(pool_indices("test", 60).tolist())
    # the drawn digit is the idx image: same ink
    ink = np.rint(data.frames[:, 0, 0] * 255).astype(np.int64).sum(axis=(1, 2))
    assert np.array_equal(ink, images[data.info["digit_ids"][:, 0]].astype(np.int64).sum(axis=(1, 2)))
    with pytest.raises(ValueError, match="idx"):
        load_dataset("mnist1", "test", size=2, mnist_root=str(tmp_path / "nowhere"))


# ---------------------------------------------------------------------------------------------------------------
# mnist_test_seq.npy
# ---------------------------------------------------------------------------------------------------------------
def _coded_tnhw(steps=6, n=30, size=16):
    """(T, N, H, W) uint8 whose frame (t, i) is filled with (7 i + t) % 256."""
    code = (7 * np.arange(n)[None, :] + np.arange(steps)[:, None]) % 256
    return np.broadcast_to(code[:, :, None, None], (steps, n, size, size)).astype(np.uint8)


def test_mnist_test_seq_reader(tmp_path):
    path = tmp_path / "mnist_test_seq.npy"
    np.save(path, _coded_tnhw())
    parts = {s: load_dataset("mnist-test-seq", s, path=str(path)) for s in ("train", "valid", "test")}
    assert {s: len(d) for s, d in parts.items()} == {"train": 24, "valid": 3, "test": 3}
    seen = [set(d.info["indices"].tolist()) for d in parts.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert set().union(*seen) == set(range(30))
    test = parts["test"]
    assert test.frames.shape == (3, 6, 1, 16, 16) and test.frames.dtype == np.float32
    assert (test.t_in, test.t_out) == (3, 3)
    for k, i in enumerate(test.info["indices"]):
        for t in range(6):
            assert np.all(test.frames[k, t] == np.float32((7 * i + t) % 256) / np.float32(255))
    # seeded: same seed, same split; another seed, another permutation
    again = load_dataset("mnist-test-seq", "test", path=str(path))
    other = load_dataset("mnist-test-seq", "test", path=str(path), seed=5)
    assert np.array_equal(again.info["indices"], test.info["indices"])
    assert not np.array_equal(other.info["indices"], test.info["indices"])
    # size, fraction and splits
    small = load_dataset("mnist-test-seq", "train", path=str(path), size=10)
    half = load_dataset("mnist-test-seq", "train", path=str(path), size=10, fraction=0.5)
    assert len(small) == 10 and len(half) == 5
    assert set(half.info["indices"].tolist()) <= set(small.info["indices"].tolist()) <= seen[0]
    assert len(load_dataset("mnist-test-seq", "test", path=str(path), splits="0.5,0.2,0.3")) == 9
    with pytest.raises(ValueError, match="holds 24"):
        load_dataset("mnist-test-seq", "train", path=str(path), fraction=2.0)


def test_mnist_test_seq_errors(tmp_path):
    path = tmp_path / "mnist_test_seq.npy"
    np.save(path, _coded_tnhw())
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ValueError, match="truncated") as err:
        load_dataset("mnist-test-seq", "test", path=str(path))
    _one_line_naming(err, path)

    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((6, 30, 256), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(T, N, H, W\)") as err:
        load_dataset("mnist-test-seq", "test", path=str(flat))
    _one_line_naming(err, flat)

    floats = tmp_path / "floats.npy"
    np.save(floats, _coded_tnhw().astype(np.float64))
    with pytest.raises(ValueError, match="uint8") as err:
        load_dataset("mnist-test-seq", "test", path=str(floats))
    _one_line_naming(err, floats)

    with pytest.raises(ValueError, match="path"):
        load_dataset("mnist-test-seq", "test")
    with pytest.raises(ValueError, match="no such file"):
        load_dataset("mnist-test-seq", "test", path=str(tmp_path / "missing.npy"))


# ---------------------------------------------------------------------------------------------------------------
# thuml / PredRNN npz
# ---------------------------------------------------------------------------------------------------------------
def _thuml(n=5, t_in=2, t_out=3, size=8):
    """Input frames of all sequences first, then the output frames: the reader must follow the clips."""
    rows_in = [np.full((1, size, size), (10 * i + t) / 255.0) for i in range(n) for t in range(t_in)]
    rows_out = [np.full((1, size, size), (10 * i + t_in + t) / 255.0) for i in range(n) for t in range(t_out)]
    raw = np.concatenate([np.stack(rows_in), np.stack(rows_out)]).astype(np.float32)
    clips = np.zeros((2, n, 2), dtype=np.int32)
    clips[0, :, 0] = np.arange(n) * t_in
    clips[0, :, 1] = t_in
    clips[1, :, 0] = n * t_in + np.arange(n) * t_out
    clips[1, :, 1] = t_out
    dims = np.array([[1, size, size]], dtype=np.int32)
    return raw, clips, dims


def test_thuml_reader_file_and_folder(tmp_path):
    raw, clips, dims = _thuml()
    path = tmp_path / "moving-mnist-test.npz"
    np.savez(path, input_raw_data=raw, clips=clips, dims=dims)
    data = load_dataset("npz-thuml", "test", path=str(path))
    assert data.frames.shape == (5, 5, 1, 8, 8)
    assert (data.t_in, data.t_out) == (2, 3)
    expected = (10 * np.arange(5)[:, None] + np.arange(5)[None, :]) / 255.0
    assert np.allclose(data.frames[:, :, 0, 0, 0], expected)
    # a folder: the split picks its file
    raw2, clips2, dims2 = _thuml(n=4)
    np.savez(tmp_path / "moving-mnist-train.npz", input_raw_data=raw2, clips=clips2, dims=dims2)
    assert len(load_dataset("npz-thuml", "test", path=str(tmp_path))) == 5
    assert len(load_dataset("npz-thuml", "train", path=str(tmp_path))) == 4
    with pytest.raises(ValueError, match="valid"):
        load_dataset("npz-thuml", "valid", path=str(tmp_path))
    sub = load_dataset("npz-thuml", "train", path=str(tmp_path), fraction=0.5)
    assert len(sub) == 2 and np.all(np.diff(sub.info["indices"]) > 0)


def test_thuml_errors(tmp_path):
    raw, clips, dims = _thuml()
    cases = {
        "nan": dict(input_raw_data=np.where(np.arange(len(raw))[:, None, None, None] == 3, np.nan, raw), clips=clips, dims=dims),
        "dims": dict(input_raw_data=raw, clips=clips, dims=np.array([[1, 16, 16]])),
        "outside": dict(input_raw_data=raw[:10], clips=clips, dims=dims),
        "nokey": dict(input_raw_data=raw, dims=dims),
        "ints": dict(input_raw_data=(raw * 255).astype(np.int64), clips=clips, dims=dims),
        "range": dict(input_raw_data=raw * 255, clips=clips, dims=dims),
    }
    patterns = {"nan": "NaN", "dims": "dims", "outside": "outside", "nokey": "clips", "ints": "int64", "range": r"\[0, 1\]"}
    for case, arrays in cases.items():
        path = tmp_path / f"{case}-test.npz"
        np.savez(path, **arrays)
        with pytest.raises(ValueError, match=patterns[case]) as err:
            load_dataset("npz-thuml", "test", path=str(path))
        _one_line_naming(err, path)
    good = tmp_path / "good-test.npz"
    np.savez(good, input_raw_data=raw, clips=clips, dims=dims)
    good.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match="truncated") as err:
        load_dataset("npz-thuml", "test", path=str(good))
    _one_line_naming(err, good)


# ---------------------------------------------------------------------------------------------------------------
# generic array reader
# ---------------------------------------------------------------------------------------------------------------
def test_array_reader_layouts(tmp_path):
    rng = np.random.default_rng(0)
    nthw = rng.integers(0, 256, size=(20, 6, 10, 12), dtype=np.uint8)
    np.save(tmp_path / "a.npy", nthw)
    data = load_dataset("array", "train", path=str(tmp_path / "a.npy"))
    assert data.frames.shape == (16, 6, 1, 10, 12) and (data.t_in, data.t_out) == (3, 3)
    idx = data.info["indices"]
    assert np.array_equal(np.rint(data.frames[:, :, 0] * 255).astype(np.uint8), nthw[idx])

    nthwc = rng.random((10, 4, 8, 9, 3), dtype=np.float32)
    np.savez(tmp_path / "b.npz", clips=nthwc, other=np.zeros(3))
    rgb = load_dataset("array", "test", path=str(tmp_path / "b.npz"), key="clips", t_in=1)
    assert rgb.frames.shape == (1, 4, 3, 8, 9) and (rgb.t_in, rgb.t_out) == (1, 3)
    assert np.array_equal(rgb.frames[0], nthwc[rgb.info["indices"][0]].transpose(0, 3, 1, 2))
    assert rgb.info["layout"] == "NTHWC"

    ntchw = rng.random((10, 4, 2, 8, 8)).astype(np.float64)
    np.save(tmp_path / "c.npy", ntchw)
    two = load_dataset("array", "valid", path=str(tmp_path / "c.npy"), layout="NTCHW")
    assert two.frames.shape == (1, 4, 2, 8, 8)
    assert np.allclose(two.frames[0], ntchw[two.info["indices"][0]])
    assert load_dataset("array", "valid", path=str(tmp_path / "c.npy")).info["layout"] == "NTCHW"  # guessed

    tnhw = np.moveaxis(nthw, 0, 1).copy()
    np.save(tmp_path / "d.npy", tnhw)
    same = load_dataset("array", "train", path=str(tmp_path / "d.npy"), layout="TNHW")
    assert np.array_equal(same.frames, data.frames)


def test_array_reader_errors(tmp_path):
    def expect(path, pattern, **options):
        with pytest.raises(ValueError, match=pattern) as err:
            load_dataset("array", "test", path=str(path), **options)
        return _one_line_naming(err, path)

    good = np.random.default_rng(0).random((10, 4, 8, 8), dtype=np.float32)
    p = tmp_path / "nan.npy"
    np.save(p, np.where(good > 0.0, np.nan, good))
    expect(p, "NaN")
    p = tmp_path / "range.npy"
    np.save(p, good * 255)
    expect(p, "divide")
    p = tmp_path / "int.npy"
    np.save(p, (good * 255).astype(np.int32))
    expect(p, "int32.*uint8")
    p = tmp_path / "bool.npy"
    np.save(p, good > 0.5)
    expect(p, "bool")
    p = tmp_path / "three.npy"
    np.save(p, good[0])
    expect(p, "shape")
    p = tmp_path / "ambiguous.npy"
    np.save(p, np.zeros((4, 3, 3, 8, 3), dtype=np.uint8))
    expect(p, "layout")
    p = tmp_path / "layout.npy"
    np.save(p, good)
    expect(p, "layout NTHWC has 5 axes", layout="NTHWC")
    p = tmp_path / "cut.npy"
    np.save(p, good)
    p.write_bytes(p.read_bytes()[:-1000])
    expect(p, "truncated")
    p = tmp_path / "cut.npz"
    np.savez(p, x=good)
    p.write_bytes(p.read_bytes()[:-200])
    expect(p, "truncated")
    p = tmp_path / "two.npz"
    np.savez(p, x=good, y=good)
    expect(p, "key=NAME")
    expect(p, "no array 'z'", key="z")
    p = tmp_path / "text.npy"
    p.write_text("not an array\n")
    expect(p, "not a .npy file")
    p = tmp_path / "few.npy"
    np.save(p, good[:2])
    expect(p, "none for split 'test'")


def test_unknown_reader_option(tmp_path):
    with pytest.raises(ValueError, match="allowed options: .*layout"):
        load_dataset("array", "test", path="x.npy", lay_out="NTHW")
