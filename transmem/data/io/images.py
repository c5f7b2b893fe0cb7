"""Image files: one image as uint8 pixels (the dataset readers), a folder of frames and an animated GIF as float
frames (read_frames). Errors are one line naming the file."""
from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from transmem.data.io.arrays import normalise
from transmem.data.io.convert import resize_frames
from transmem.data.io.errors import Final, first_line, reason

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_image(path: Path, channels: int) -> np.ndarray:
    """An image file as uint8 (H, W) or (H, W, 3); one-line ValueError naming the file when unreadable."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB" if channels == 3 else "L"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"{path}: not a readable image ({first_line(err)}); replace or delete the file") from None


def natural_key(name: str) -> tuple:
    """Sort key putting 'frame_2' before 'frame_10' (digit runs compare as numbers, the rest case-insensitively)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)) + (name,)


def _image_array(path: Path, image) -> tuple[np.ndarray, bool]:
    """A PIL image -> (H, W, C) float32 in [0, 1] with C in (1, 3), and whether it is a grey image."""
    mode = image.mode
    if mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"), dtype=np.float32)[..., None] / 255.0, True
    if mode.startswith("I;16") or mode == "I":
        data = np.asarray(image, dtype=np.float32)
        if data.min() < 0 or data.max() > 65535:
            raise Final(f"{path}: 32-bit integer image values outside 0-65535; save it as an 8- or 16-bit image")
        return (data / 65535.0)[..., None], True
    if mode == "F":
        try:
            return normalise(path, np.asarray(image, dtype=np.float32)[..., None]), True
        except ValueError as err:
            raise Final(str(err)) from None
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if mode == "P" and is_grey(rgb):
        return rgb[..., :1], True
    return rgb, False


def is_grey(rgb: np.ndarray) -> bool:
    """Whether every pixel of (..., 3) RGB values has R == G == B."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]))


def read_folder(folder: Path, frame_size: tuple[int, int] | None, max_frames: int | None,
                last_frames: int | None = None) -> np.ndarray:
    """The images of a folder, in natural order of their names, as float32 (T, C, H, W) on [0, 1]; only the
    images kept (the first max_frames, then the last last_frames of those) are opened."""
    files = sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        ),
        key=lambda p: natural_key(p.name),
    )
    if not files:
        raise ValueError(
            f"{folder}: no PNG/JPEG images in this folder; put the frames there (e.g. frame_000.png, frame_001.png, "
            "...) or pass the array, GIF or video file instead"
        )
    if max_frames is not None:
        files = files[:max_frames]
    if last_frames is not None:
        files = files[-last_frames:]
    frames, greys, first = [], [], None
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                data, grey = _image_array(file, image)
        except Final as err:
            raise ValueError(str(err)) from None
        except Exception as err:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... for broken files
            raise ValueError(
                f"{file}: cannot read this image ({reason(err)}); replace it or remove it from the folder"
            ) from None
        if frame_size is not None:
            data = resize_frames(data.transpose(2, 0, 1)[None], frame_size)[0].transpose(1, 2, 0)
        elif first is None:
            first = (file, data.shape[:2])
        elif data.shape[:2] != first[1]:
            (h0, w0), (h1, w1) = first[1], data.shape[:2]
            raise ValueError(
                f"{folder}: frames differ in size ({first[0].name} is {h0}x{w0}, {file.name} is {h1}x{w1}); "
                "resize them to one size or pass frame_size=(H, W)"
            )
        frames.append(data)
        greys.append(grey)
    if not all(greys):
        frames = [np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f for f in frames]
    return np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32, copy=False)


def read_gif(path: Path, max_frames: int | None, last_frames: int | None = None) -> np.ndarray:
    """Every frame of an animated GIF as float32 (T, C, H, W) on [0, 1]; C=1 when every frame is grey. With
    last_frames, only the last ones are kept while the GIF is decoded (memory: last_frames frames)."""
    frames: deque = deque(maxlen=last_frames)
    try:
        with Image.open(path) as image:
            if image.format != "GIF":
                raise Final(f"{path}: is a {image.format} image, not a GIF; rename it or convert it to GIF")
            for count, frame in enumerate(ImageSequence.Iterator(image), 1):
                frames.append(np.asarray(frame.convert("RGB"), dtype=np.uint8))
                if max_frames is not None and count >= max_frames:
                    break
    except Final as err:
        raise ValueError(str(err)) from None
    except Exception as err:
        raise ValueError(
            f"{path}: cannot read this GIF ({reason(err)}); the file is truncated or corrupt, save it again"
        ) from None
    if not frames:
        raise ValueError(f"{path}: the GIF holds no frames; save it again")
    rgb = np.stack(frames)
    if is_grey(rgb):
        rgb = rgb[..., :1]
    out = rgb.transpose(0, 3, 1, 2).astype(np.float32)
    out /= 255.0
    return out
