"""The one video reader: frames of a video file decoded with PyAV, for the dataset readers and for `read_frames`.

`decode_video` does the decoding and raises `VideoError` (with `NoVideoStream` and `TruncatedVideo`) with the
decoder's reason; the two callers word the advice for their users: `dataset_video_frames` / `dataset_video_length`
for datasets (KTH, Weizmann: "copy it again"), `read_video` for a user's own clip ("convert it to PNGs").
"""
from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from transmem.data.io.errors import first_line, reason

# Decoded frames must not be fewer than the header's frame count minus this tolerance (else: truncated file).
FRAME_COUNT_TOLERANCE = 2


class VideoError(ValueError):
    """A video that cannot be decoded; the message is the decoder's one-line reason."""


class NoVideoStream(VideoError):
    """The file opens but holds no video stream."""


class TruncatedVideo(VideoError):
    """The file decodes to fewer frames than its header announces."""

    def __init__(self, count: int, expected: int):
        super().__init__(f"decoded {count} frames, the header announces {expected}")
        self.count, self.expected = count, expected


def decode_video(
    path: Path, *, channels: int = 3, threaded: bool = False, complete: bool = False
) -> Iterator[np.ndarray]:
    """The frames of the first video stream as uint8 (H, W) (channels=1) or (H, W, 3) (channels=3).

    threaded: let FFmpeg decode with threads. complete: once the frames run out, raise TruncatedVideo when there
    were fewer than the header announces (less FRAME_COUNT_TOLERANCE). Without PyAV: ImportError.
    """
    import av  # PyAV

    fmt = "rgb24" if channels == 3 else "gray"
    count = expected = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NoVideoStream("no video stream")
            stream = container.streams.video[0]
            if threaded:
                stream.thread_type = "AUTO"
            expected = int(stream.frames or 0)
            for frame in container.decode(stream):
                count += 1
                yield frame.to_ndarray(format=fmt)
    except VideoError:
        raise
    except Exception as err:  # av.error.* (FFmpegError: ValueError / OSError), RuntimeError, EOFError
        raise VideoError(first_line(err)) from None
    if complete and count and expected and count < expected - FRAME_COUNT_TOLERANCE:
        raise TruncatedVideo(count, expected)


def header_length(path: Path) -> int:
    """The frame count the video's header announces (0 when it does not say)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NoVideoStream("no video stream")
            return int(container.streams.video[0].frames or 0)
    except VideoError:
        raise
    except Exception as err:
        raise VideoError(first_line(err)) from None


# --- datasets ----------------------------------------------------------------------------------------------------
def _dataset_error(path: Path, err: VideoError) -> ValueError:
    return ValueError(f"{path}: cannot decode video ({err}); the file is truncated or not a video, copy it again")


def dataset_video_frames(path: Path, channels: int) -> Iterator[np.ndarray]:
    """A dataset video's frames as uint8 (H, W) or (H, W, 3); a truncated file is an error naming it."""
    count = 0
    try:
        with contextlib.closing(decode_video(path, channels=channels, complete=True)) as frames:
            for frame in frames:
                count += 1
                yield frame
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError("reading AVI videos needs PyAV: pip install av") from None
    except TruncatedVideo as err:
        raise ValueError(
            f"{path}: decoded {err.count} frames but the header announces {err.expected}; the file is truncated, "
            "copy it again"
        ) from None
    except VideoError as err:
        raise _dataset_error(path, err) from None
    if count == 0:
        raise ValueError(f"{path}: holds no decodable frame; the file is truncated or not a video, copy it again")


def dataset_video_length(path: Path) -> int:
    """Number of frames of a dataset video: from its header when given, else by decoding it."""
    try:
        frames = header_length(path)
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError("reading AVI videos needs PyAV: pip install av") from None
    except VideoError as err:
        raise _dataset_error(path, err) from None
    if frames > 0:
        return frames
    return sum(1 for _ in dataset_video_frames(path, 1))


# --- a user's own clip (read_frames) --------------------------------------------------------------------------
def read_video(path: Path, max_frames: int | None, last_frames: int | None = None,
               convert: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The frames of a user's video as float32 (T, C, H, W) in [0, 1] (C = 3 unless `convert` changes it).

    Streamed: each frame is converted as it is decoded (`convert` maps (1, 3, H, W) frames to what the caller keeps,
    e.g. grey and resized), and only the kept frames are held: the first max_frames, and of those the last
    last_frames. Memory is bounded by the kept frames at their kept size, not by the clip's length or resolution.
    """
    kept: deque = deque(maxlen=last_frames)
    shape = None
    try:
        with contextlib.closing(decode_video(path, channels=3, threaded=True)) as decoded:
            for count, frame in enumerate(decoded, 1):
                if shape is None:
                    shape = frame.shape
                elif frame.shape != shape:
                    raise ValueError(
                        f"{path}: the video changes its frame size; pass frame_size=(H, W) after converting to PNGs"
                    )
                frame = frame.transpose(2, 0, 1)[None].astype(np.float32)
                frame *= 1.0 / 255.0
                kept.append(convert(frame) if convert is not None else frame)
                if max_frames is not None and count >= max_frames:
                    break
    except ImportError:
        raise ValueError(
            f"{path}: reading videos needs PyAV; install it (pip install av) or convert the video to a folder of PNGs"
        ) from None
    except NoVideoStream:
        raise ValueError(f"{path}: holds no video stream; pass a video file with frames") from None
    except VideoError as err:
        raise ValueError(
            f"{path}: cannot decode this video ({reason(err)}); the file is truncated, corrupt or not a video: "
            "save it again or convert it to a folder of PNGs"
        ) from None
    if not kept:
        raise ValueError(f"{path}: the video holds no frames; check the file")
    return np.concatenate(list(kept))
