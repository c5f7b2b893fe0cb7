"""Readers and writers of transmem.data.io: round trips, conversions and one-line errors naming the file."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from transmem.data.io import (
    natural_key,
    read_frame_batch,
    read_frames,
    write_gif,
    write_npy,
    write_strip,
)


def _seq(t=4, c=1, h=8, w=10, seed=0):
    """Frames that are exact multiples of 1/255 (so uint8 storage loses nothing)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(t, c, h, w)) / 255.0).astype(np.float32)


def _smooth(t=6, h=32, w=48):
    """Smooth RGB frames (lossy codecs keep them close), (T, 3, H, W) in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(t):
        r = 0.5 + 0.4 * np.sin(xx / 8.0 + i * 0.5)
        g = 0.5 + 0.4 * np.cos(yy / 7.0 - i * 0.3)
        b = np.full_like(r, 0.2 + 0.1 * i)
        frames.append(np.stack([r, g, b]))
    return np.stack(frames).astype(np.float32)


def _one_line_naming(excinfo, name):
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(name) in message
    return message


# ---------------------------------------------------------------------------------------------------------------
# .npy / .npz
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
@pytest.mark.parametrize("layout", ["thw", "thwc", "tchw"])
@pytest.mark.parametrize("explicit", [False, True])
def test_npy_layouts_round_trip(tmp_path, layout, dtype, explicit):
    c = 1 if layout == "thw" else 3
    frames = _seq(c=c)
    stored = {"thw": frames[:, 0], "thwc": frames.transpose(0, 2, 3, 1), "tchw": frames}[layout]
    stored = np.rint(stored * 255).astype(np.uint8) if dtype == "uint8" else stored.astype(dtype)
    path = tmp_path / "seq.npy"
    np.save(path, stored)
    out = read_frames(path, layout=layout.upper() if explicit else None)
    assert out.dtype == np.float32 and out.shape == frames.shape
    np.testing.assert_allclose(out, frames, atol=1e-6)


def test_npy_grey_channel_axes_and_rgba(tmp_path):
    frames = _seq(c=1)
    np.save(tmp_path / "last.npy", frames.transpose(0, 2, 3, 1))  # (T, H, W, 1)
    np.save(tmp_path / "first.npy", frames)  # (T, 1, H, W)
    np.testing.assert_allclose(read_frames(tmp_path / "last.npy"), frames)
    np.testing.assert_allclose(read_frames(tmp_path / "first.npy"), frames)
    rgb = _seq(c=3)
    rgba = np.concatenate([rgb, np.full_like(rgb[:, :1], 0.5)], axis=1).transpose(0, 2, 3, 1)
    np.save(tmp_path / "rgba.npy", rgba)
    np.testing.assert_allclose(read_frames(tmp_path / "rgba.npy"), rgb)  # alpha dropped


def test_npz_single_array_and_key(tmp_path):
    frames = _seq(c=3)
    np.savez(tmp_path / "one.npz", frames=frames)
    np.testing.assert_allclose(read_frames(tmp_path / "one.npz"), frames)
    np.savez_compressed(tmp_path / "two.npz", a=frames, b=frames[:, :1])
    np.testing.assert_allclose(read_frames(tmp_path / "two.npz", key="b"), frames[:, :1])
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "two.npz")
    assert "key=" in _one_line_naming(err, tmp_path / "two.npz")
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "two.npz", key="zz")
    _one_line_naming(err, tmp_path / "two.npz")


def test_read_frame_batch(tmp_path):
    batch = np.stack([_seq(c=3, seed=i) for i in range(3)])  # (N, T, C, H, W)
    np.save(tmp_path / "ntchw.npy", batch)
    np.save(tmp_path / "nthwc.npy", np.rint(batch.transpose(0, 1, 3, 4, 2) * 255).astype(np.uint8))
    np.save(tmp_path / "nthw.npy", batch[:, :, 0])
    np.savez(tmp_path / "b.npz", x=batch)
    np.testing.assert_allclose(read_frame_batch(tmp_path / "ntchw.npy"), batch)
    np.testing.assert_allclose(read_frame_batch(tmp_path / "nthwc.npy"), batch, atol=1e-6)
    np.testing.assert_allclose(read_frame_batch(tmp_path / "nthw.npy"), batch[:, :, :1])
    np.testing.assert_allclose(read_frame_batch(tmp_path / "b.npz", layout="ntchw"), batch)
    out = read_frame_batch(tmp_path / "ntchw.npy", channels=1, frame_size=(4, 5))
    assert out.shape == (3, 4, 1, 4, 5) and out.dtype == np.float32
    with pytest.raises(ValueError) as err:
        read_frame_batch(tmp_path / "ntchw.npy", layout="thw")
    _one_line_naming(err, tmp_path / "ntchw.npy")
    np.save(tmp_path / "single.npy", batch[0, :, 0])
    with pytest.raises(ValueError) as err:
        read_frame_batch(tmp_path / "single.npy")
    assert "read_frames" in _one_line_naming(err, tmp_path / "single.npy")


def test_max_frames(tmp_path):
    frames = _seq(t=6)
    np.save(tmp_path / "s.npy", frames)
    np.testing.assert_allclose(read_frames(tmp_path / "s.npy", max_frames=2), frames[:2])


# ---------------------------------------------------------------------------------------------------------------
# image folders, GIF, video
# ---------------------------------------------------------------------------------------------------------------
def test_natural_key():
    names = ["frame_10.png", "frame_2.png", "Frame_1.png", "frame_02b.png"]
    assert sorted(names, key=natural_key) == ["Frame_1.png", "frame_2.png", "frame_02b.png", "frame_10.png"]


@pytest.mark.parametrize("c", [1, 3])
def test_png_folder_natural_order(tmp_path, c):
    frames = _seq(t=12, c=c)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):  # frame_0 .. frame_11: plain string sorting would put frame_10 after frame_1
        pixels = np.rint(frame.transpose(1, 2, 0) * 255).astype(np.uint8)
        Image.fromarray(pixels[..., 0] if c == 1 else pixels).save(folder / f"frame_{i}.png")
    (folder / "notes.txt").write_text("ignored")
    out = read_frames(folder)
    assert out.shape == frames.shape
    np.testing.assert_allclose(out, frames, atol=1e-6)


def test_jpeg_folder_and_mixed_modes(tmp_path):
    frames = _smooth(t=3)
    folder = tmp_path / "jpg"
    folder.mkdir()
    for i, frame in enumerate(frames):
        pixels = np.rint(frame.transpose(1, 2, 0) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=95)
    Image.fromarray(np.full((32, 48), 128, np.uint8)).save(folder / "3.jpeg")  # a grey frame among RGB ones
    out = read_frames(folder)
    assert out.shape == (4, 3, 32, 48)
    assert np.abs(out[:3] - frames).mean() < 0.02
    np.testing.assert_allclose(out[3], 128 / 255, atol=2 / 255)


def test_gif_round_trip_grey_and_side_by_side(tmp_path):
    frames = _seq(t=5, c=1, h=16, w=12)
    path = write_gif(tmp_path / "g.gif", frames, fps=5)
    with Image.open(path) as image:
        assert image.n_frames == 5 and image.size == (12, 16)
        assert image.info["duration"] == 200
    np.testing.assert_allclose(read_frames(path), frames, atol=1e-6)  # grey GIFs are exact
    pred = _seq(t=5, c=1, h=16, w=12, seed=1)
    both = write_gif(tmp_path / "both.gif", [frames, pred], fps=4, gap=2)
    back = read_frames(both)
    assert back.shape == (5, 1, 16, 12 + 2 + 12)
    np.testing.assert_allclose(back[..., :12], frames, atol=1e-6)
    np.testing.assert_allclose(back[..., 14:], pred, atol=1e-6)


def test_gif_rgb_and_cmap(tmp_path):
    palette = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
    rng = np.random.default_rng(0)
    frames = palette[rng.integers(0, 4, size=(4, 8, 8))].transpose(0, 3, 1, 2)  # few colours: quantising is exact
    path = write_gif(tmp_path / "rgb.gif", frames)
    out = read_frames(path)
    assert out.shape == (4, 3, 8, 8)
    np.testing.assert_allclose(out, frames, atol=1e-6)
    radar = write_gif(tmp_path / "radar.gif", _seq(t=3), cmap="viridis", scale=2)
    with Image.open(radar) as image:
        assert image.n_frames == 3 and image.size == (20, 16)
    assert read_frames(radar).shape == (3, 3, 16, 20)


def _write_video(path, frames, codec, fps=5):
    av = pytest.importorskip("av")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[3], frames.shape[2]
        stream.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
        if codec == "mpeg4":
            stream.options = {"qscale": "2"}
        if codec == "libx264":
            stream.options = {"crf": "10"}
        for frame in frames:
            pixels = np.rint(frame.transpose(1, 2, 0) * 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize(("name", "codec"), [("clip.mp4", "libx264"), ("clip.avi", "mpeg4"), ("clip.mkv", "mjpeg")])
def test_video_round_trip(tmp_path, name, codec):
    av = pytest.importorskip("av")
    if codec not in av.codecs_available:
        pytest.skip(f"FFmpeg build without {codec}")
    frames = _smooth(t=6)
    _write_video(tmp_path / name, frames, codec)
    out = read_frames(tmp_path / name)
    assert out.shape == frames.shape and out.dtype == np.float32
    assert np.abs(out - frames).mean() < 0.03  # lossy codecs, chroma subsampling
    assert read_frames(tmp_path / name, max_frames=2).shape[0] == 2
    grey = read_frames(tmp_path / name, channels=1, frame_size=(16, 24))
    assert grey.shape == (6, 1, 16, 24)


# ---------------------------------------------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------------------------------------------
def test_channel_conversion_numbers(tmp_path):
    rgb = np.zeros((1, 3, 2, 2), np.float32)
    rgb[0, 0, 0, 0] = 1.0  # pure red
    rgb[0, 1, 0, 1] = 1.0  # pure green
    rgb[0, 2, 1, 0] = 1.0  # pure blue
    rgb[0, :, 1, 1] = [0.2, 0.4, 0.6]
    np.save(tmp_path / "rgb.npy", rgb)
    grey = read_frames(tmp_path / "rgb.npy", channels=1)
    assert grey.shape == (1, 1, 2, 2)
    expected = [[0.299, 0.587], [0.114, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6]]
    np.testing.assert_allclose(grey[0, 0], expected, atol=1e-6)
    np.save(tmp_path / "grey.npy", grey[:, 0])
    back = read_frames(tmp_path / "grey.npy", channels=3)
    assert back.shape == (1, 3, 2, 2)
    for c in range(3):
        np.testing.assert_array_equal(back[0, c], grey[0, 0])
    np.testing.assert_array_equal(read_frames(tmp_path / "grey.npy", channels=1), grey)


def test_resize_shapes_and_area_mean(tmp_path):
    frames = _seq(t=2, c=3, h=8, w=10)
    np.save(tmp_path / "s.npy", frames)
    small = read_frames(tmp_path / "s.npy", frame_size=(4, 5))
    assert small.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(small[0, 0, 0, 0], frames[0, 0, :2, :2].mean(), atol=1e-5)  # BOX = area mean
    big = read_frames(tmp_path / "s.npy", frame_size=(16, 7), channels=1)
    assert big.shape == (2, 1, 16, 7) and 0.0 <= big.min() and big.max() <= 1.0


def test_folder_mixed_sizes_ok_with_frame_size(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a1.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "a2.png")
    with pytest.raises(ValueError) as err:
        read_frames(folder)
    assert "frame_size" in _one_line_naming(err, folder)
    assert read_frames(folder, frame_size=(4, 4)).shape == (2, 1, 4, 4)


# ---------------------------------------------------------------------------------------------------------------
# errors: one line, naming the file
# ---------------------------------------------------------------------------------------------------------------
def test_error_missing_path(tmp_path):
    for target in (tmp_path / "nope.npy", tmp_path / "nofolder"):
        with pytest.raises(ValueError) as err:
            read_frames(target)
        assert "no such file" in _one_line_naming(err, target)
    with pytest.raises(ValueError) as err:
        read_frame_batch(tmp_path / "nope.npy")
    _one_line_naming(err, tmp_path / "nope.npy")


def test_error_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("no frames")
    with pytest.raises(ValueError) as err:
        read_frames(folder)
    assert "no PNG/JPEG images" in _one_line_naming(err, folder)


def test_error_corrupt_image(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "f1.png")
    (folder / "f2.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(ValueError) as err:
        read_frames(folder)
    assert "cannot read this image" in _one_line_naming(err, folder / "f2.png")
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(good)
    truncated = folder / "f2.png"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError) as err:
        read_frames(folder)
    _one_line_naming(err, truncated)


def test_error_corrupt_gif_and_video(tmp_path):
    gif = tmp_path / "bad.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 5)
    with pytest.raises(ValueError) as err:
        read_frames(gif)
    _one_line_naming(err, gif)
    pytest.importorskip("av")
    video = tmp_path / "bad.mp4"
    video.write_bytes(os.urandom(2048))
    with pytest.raises(ValueError) as err:
        read_frames(video)
    assert "cannot decode this video" in _one_line_naming(err, video)
    good = tmp_path / "good.mp4"
    _write_video(good, _smooth(t=6), "mpeg4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])  # mp4 index at the end is missing
    with pytest.raises(ValueError) as err:
        read_frames(cut)
    _one_line_naming(err, cut)


def test_error_corrupt_npy_npz(tmp_path):
    npy = tmp_path / "bad.npy"
    np.save(npy, _seq())
    npy.write_bytes(npy.read_bytes()[:100])
    npz = tmp_path / "bad.npz"
    npz.write_bytes(b"PK\x03\x04 not really a zip")
    for target in (npy, npz):
        with pytest.raises(ValueError) as err:
            read_frames(target)
        assert "cannot be read" in _one_line_naming(err, target)


def test_error_nan_and_range(tmp_path):
    frames = _seq()
    frames[2, 0, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", frames)
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "nan.npy")
    assert "NaN" in _one_line_naming(err, tmp_path / "nan.npy")
    np.save(tmp_path / "range.npy", _seq() * 255.0)
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "range.npy")
    assert "[0, 1]" in _one_line_naming(err, tmp_path / "range.npy")
    np.save(tmp_path / "neg.npy", _seq() - 0.5)
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "neg.npy")
    _one_line_naming(err, tmp_path / "neg.npy")
    np.save(tmp_path / "int.npy", (_seq() * 255).astype(np.int64))
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "int.npy")
    assert "uint8" in _one_line_naming(err, tmp_path / "int.npy")
    np.save(tmp_path / "slack.npy", _seq() * (1 + 1e-7))  # float rounding just above 1 is clipped, not an error
    assert read_frames(tmp_path / "slack.npy").max() <= 1.0


def test_error_dimensions_and_layout(tmp_path):
    cases = {
        "two_d.npy": np.zeros((8, 8), np.float32),
        "five_d.npy": np.zeros((2, 4, 8, 8, 1), np.float32),
        "ambiguous.npy": np.zeros((4, 3, 8, 3), np.float32),
        "no_channels.npy": np.zeros((4, 5, 8, 8), np.float32),
    }
    for name, array in cases.items():
        np.save(tmp_path / name, array)
        with pytest.raises(ValueError) as err:
            read_frames(tmp_path / name)
        message = _one_line_naming(err, tmp_path / name)
        if name in ("ambiguous.npy", "no_channels.npy"):
            assert "layout=" in message
        if name == "five_d.npy":
            assert "read_frame_batch" in message
    np.testing.assert_array_equal(read_frames(tmp_path / "ambiguous.npy", layout="thwc").shape, (4, 3, 3, 8))
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "no_channels.npy", layout="tchw")  # 5 channels
    _one_line_naming(err, tmp_path / "no_channels.npy")
    with pytest.raises(ValueError) as err:
        read_frames(tmp_path / "two_d.npy", layout="thwc")
    _one_line_naming(err, tmp_path / "two_d.npy")


def test_error_unsupported_and_bad_options(tmp_path):
    other = tmp_path / "frames.txt"
    other.write_text("x")
    with pytest.raises(ValueError) as err:
        read_frames(other)
    _one_line_naming(err, other)
    image = tmp_path / "one.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    with pytest.raises(ValueError) as err:
        read_frames(image)
    assert "folder" in _one_line_naming(err, image)
    np.save(tmp_path / "s.npy", _seq())
    for kwargs in ({"channels": 2}, {"frame_size": (0, 4)}, {"frame_size": 8}, {"key": "x"}, {"max_frames": 0}):
        with pytest.raises(ValueError) as err:
            read_frames(tmp_path / "s.npy", **kwargs)
        _one_line_naming(err, tmp_path / "s.npy")


# ---------------------------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------------------------
def test_write_npy_round_trip_and_atomic(tmp_path):
    frames = _seq(c=3).astype(np.float64)
    path = write_npy(tmp_path / "sub" / "pred.npy", frames)
    stored = np.load(path)
    assert stored.dtype == np.float32
    np.testing.assert_allclose(read_frames(path), frames, atol=1e-6)
    batch = np.stack([frames, frames])
    write_npy(path, batch)  # overwrite
    np.testing.assert_allclose(read_frame_batch(path), batch, atol=1e-6)
    with pytest.raises(ValueError):
        write_npy(path, frames[0])
    assert np.load(path).shape == batch.shape  # a failed write leaves the old file whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["pred.npy"]  # no temporary files left


def test_writers_never_leave_half_files(tmp_path, monkeypatch):
    path = tmp_path / "strip.png"
    write_strip(path, [_seq()])
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(RuntimeError):
        write_strip(path, [_seq(seed=3)])
    with pytest.raises(RuntimeError):
        write_gif(tmp_path / "new.gif", _seq())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strip.png"]


def test_write_strip_grid(tmp_path):
    inputs, truth, pred = _seq(t=4, seed=0), _seq(t=3, seed=1), _seq(t=3, seed=2)
    labels = ["input", "truth", "model"]
    path = write_strip(tmp_path / "strip.png", [inputs, truth, pred], row_labels=labels, cmap="viridis")
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"
        width, height = image.size
        pixels = np.asarray(image)
    assert height == 3 * 8 + 2 * 2
    label_w = width - (4 * 10 + 3 * 2)
    assert label_w > 10  # room for the labels
    assert (pixels[:, :label_w] < 128).any()  # some dark text was drawn
    assert (pixels[10:18, -10:] == 255).all()  # row 2 has 3 frames: its 4th cell stays white
    plain = write_strip(tmp_path / "plain.png", np.stack([inputs, inputs]), scale=2)
    with Image.open(plain) as image:
        assert image.size == (4 * 20 + 3 * 2, 2 * 16 + 2)
        grey = np.asarray(image)
    np.testing.assert_array_equal(grey[0, 0], np.rint(inputs[0, 0, 0, 0] * 255))  # grey without cmap
    rgb = write_strip(tmp_path / "rgb.png", [_seq(c=3)], row_labels=["rgb"])
    assert os.path.getsize(rgb) < 20_000
    with pytest.raises(ValueError) as err:
        write_strip(tmp_path / "x.png", [inputs], row_labels=["a", "b"])
    _one_line_naming(err, tmp_path / "x.png")
    with pytest.raises(ValueError) as err:
        write_strip(tmp_path / "x.png", [inputs], cmap="no-such-map")
    _one_line_naming(err, tmp_path / "x.png")


# ---------------------------------------------------------------------------------------------------------------
# streamed reading: last_frames keeps the end of a clip without holding the rest
def _sources(tmp_path, frames):
    """The same RGB clip as a .npy, a PNG folder and a GIF (all lossless for these values)."""
    write_npy(tmp_path / "clip.npy", frames)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(np.rint(frame.transpose(1, 2, 0) * 255).astype(np.uint8)).save(folder / f"f_{i}.png")
    write_gif(tmp_path / "clip.gif", frames)
    return [tmp_path / "clip.npy", folder, tmp_path / "clip.gif"]


def test_last_frames_gives_the_end_of_every_kind_of_source(tmp_path):
    frames = _seq(t=7, c=3, h=8, w=10)
    for path in _sources(tmp_path, frames):
        whole = read_frames(path)
        np.testing.assert_allclose(read_frames(path, last_frames=3), whole[-3:], err_msg=str(path))
        np.testing.assert_allclose(read_frames(path, max_frames=5, last_frames=2), whole[3:5], err_msg=str(path))
        assert read_frames(path, last_frames=50).shape[0] == 7  # fewer than asked: all of them
        small = read_frames(path, last_frames=2, channels=1, frame_size=(4, 5))
        np.testing.assert_allclose(small, read_frames(path, channels=1, frame_size=(4, 5))[-2:], atol=1e-6)
    with pytest.raises(ValueError, match="last_frames"):
        read_frames(tmp_path / "clip.npy", last_frames=0)


def test_a_video_is_converted_frame_by_frame_and_only_the_kept_frames_are_held(tmp_path, monkeypatch):
    pytest.importorskip("av")
    frames = _smooth(t=8)
    _write_video(tmp_path / "clip.avi", frames, "mpeg4")
    whole = read_frames(tmp_path / "clip.avi", channels=1, frame_size=(8, 12))
    from transmem.data.io import frames as frames_module
    from transmem.data.io import video

    seen = []  # the shapes that reach the reader's buffer: already grey and small, never full-size RGB
    real = video.read_video

    def spy(path, max_frames, last_frames=None, convert=None):
        def watch(frame):
            out = convert(frame)
            seen.append(out.shape)
            return out
        return real(path, max_frames, last_frames, watch)

    monkeypatch.setattr(frames_module, "read_video", spy)
    tail = read_frames(tmp_path / "clip.avi", channels=1, frame_size=(8, 12), last_frames=3)
    np.testing.assert_allclose(tail, whole[-3:], atol=1e-6)
    assert seen == [(1, 1, 8, 12)] * 8
