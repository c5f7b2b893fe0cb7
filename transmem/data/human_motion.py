"""Human motion benchmark of the paper (section 4.2): KTH and Weizmann sources -> Human3.6M target.

128x128 frames, 4 input -> 4 output frames, values on [0, 1]. Two families of datasets are registered.

Readers of the real data (local files only, never downloaded; option ``root`` is required)
--------------------------------------------------------------------------------------------
``kth``
    KTH actions (Schuldt et al., 2004): AVIs ``personNN_<action>_dK_uncomp.avi`` (160x120 grey, 25 fps) and/or
    pre-extracted frame trees ``<action>/personNN_<action>_dK_uncomp/image_XXXX.png`` anywhere under ``root``
    (when both exist for one video, the frame tree is used). Persons 01-14 -> train, 15-16 -> valid (a fixed
    part of the usual training persons 01-16), 17-25 -> test. Option ``actions`` (comma list, e.g.
    "walking,running"; default all six).
``weizmann``
    Weizmann actions (Blank et al., 2005): 90 AVIs ``<actor>_<action>.avi`` (180x144). Fixed actor split:
    valid = lyova, test = moshe and shahar, train = every other actor (daria, denis, eli, ido, ira, lena and any
    actor not named here). Option ``actions`` matches the action name with or without its trailing digit
    ("run" matches lena_run1 and lena_run2; "wave" matches wave1 and wave2).
``h36m``
    Human3.6M as the paper's authors used it: a flat folder of JPEGs ``S11_Walking_1.54138969_000471.jpg``
    (subject, action[_subaction], camera, frame). Walking only by default (option ``actions``); subjects
    S1, S5, S6, S7 -> train, S8 -> valid (a fixed part of the usual training subjects S1/5/6/7/8), S9, S11 -> test.
    One video = one (subject, action, subaction, camera), frames in frame-number order; each frame is
    centre-cropped to ``crop`` (default 0.5: the centre half of its width and height) before resizing.

Reader options: ``frame_size`` (default 128; frames are resized to a square with Pillow, area-filtered bilinear),
``channels`` (1 = grey, 3 = RGB; grey sources are repeated to three channels so they can feed an RGB target;
default 1 for KTH and Weizmann, 3 for Human3.6M), ``seq_len`` (8) and ``t_in`` (4), ``stride`` (frames between
the starts of consecutive windows of one video, default seq_len: non-overlapping windows), ``frame_step``
(take every k-th frame, default 1). Sequences are the sliding windows of every video of the split, in file order;
``size`` / ``fraction`` pick a seeded nested subset of them (only the videos holding chosen windows are decoded).
Mind the memory: all of KTH at 128x128 in windows of 8 with stride 8 is ~36,000 sequences, 19 GB of float32;
pass ``size`` or a larger ``stride``. Videos are decoded with PyAV; a file that cannot be decoded, holds fewer
frames than its header announces (truncated) or is not an image gives a one-line ValueError naming the file.

Offline stand-ins: procedurally rendered articulated figures
-----------------------------------------------------------
``kth-synth``, ``weizmann-synth`` (sources) and ``h36m-synth`` (target). Each figure is a capsule skeleton
(head, torso, upper/lower arms and legs, feet) whose joint angles follow per-action periodic patterns:

* walk / jog / run: hips swing sinusoidally, the knee flexes in the swing phase, the arms swing against the
  same-side leg, elbow flexion and forward lean grow with speed; the body translates by the stride length per
  gait cycle (so the feet do not slide) and is kept on the ground by its lowest foot;
* box (side view, alternating punches from a guard), wave (front view, both arms raised, KTH "handwaving"),
  clap (front view, forearms closing in front of the chest).

Domains, in the spirit of the real sets (sources: plain, few actors, simple motion; target: harder):

* ``kth-synth``: grey, plain light background, figure 50-68 % of the frame height, all six actions, walk / jog /
  run across the frame in side view, box in side view, wave / clap facing the camera in place.
* ``weizmann-synth``: grey, smaller figures (38-50 %) with longer legs and slimmer limbs, faster gait cycles,
  a sky-to-ground gradient background with a horizon.
* ``h36m-synth``: RGB; textured room (noisy wall with panels, perspective tiled floor); coloured clothes and
  skin; walking (as the Walking subset of Human3.6M) in any direction on the floor, turning while walking and
  moving in depth, so scale and foreshortening change within a sequence; wider ranges of gait speed and
  amplitude; some actors keep one arm still or hold it to the head.

Figures are drawn with Pillow at 2x resolution and box-filtered down (anti-aliasing), then quantised to 8 bits
like real video (so the cache stores uint8). Options: ``frame_size`` (default 128), ``seq_len`` (8), ``t_in``
(4), ``channels`` (1 for the grey sources, 3 for the target; 3 repeats a grey source, 1 turns the target into
luminance), ``actions`` (comma list restricting the actions of a source; h36m-synth only walks).
Default sizes: 2,000 train / 300 valid / 500 test sequences (the paper's Human3.6M: 2,220 / 300 / 1,056).
Sequence i of a split is drawn from ``np.random.default_rng([domain, split, seed, i])``, so the seed fixes the
content, splits differ, and a smaller size is a prefix of a larger one.

`persistence_mse` measures how much a domain moves: the per-frame MSE (sum over pixels and channels on [0, 1])
of repeating the last input frame; `transmem.data.stats.human_persistence` tabulates it per domain.
"""
from __future__ import annotations

import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from transmem.data.base import SPLITS, SequenceData
from transmem.data.readers import check_common, choose_subset, int_at_least, resolve_size, seq_len_and_t_in
from transmem.registry import DATASETS

FRAME_SIZE, SEQ_LEN, T_IN = 128, 8, 4
SYNTH_SIZES = {"train": 2000, "valid": 300, "test": 500}
SUPERSAMPLE = 2
ACTIONS = ("walk", "jog", "run", "box", "wave", "clap")

# --------------------------------------------------------------------------------------------------------------
# option helpers
# --------------------------------------------------------------------------------------------------------------


def _channels(value: Any, dataset: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value not in (1, 3) or isinstance(value, bool):
        raise ValueError(f"{dataset}: channels must be 1 (grey) or 3 (RGB), got {value!r}")
    return int(value)


def _name_list(value: Any, dataset: str, what: str, known: Sequence[str] | None = None) -> tuple[str, ...] | None:
    """'a,b' or a sequence of names -> lower-case tuple; checked against `known` when given."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(v).strip().lower() for v in items if str(v).strip())
    if not names:
        raise ValueError(f"{dataset}: {what} must name at least one entry, got {value!r}")
    if known is not None:
        bad = [n for n in names if n not in known]
        if bad:
            raise ValueError(f"{dataset}: unknown {what} {', '.join(bad)}; choose from {', '.join(known)}")
    return names


def _root(root: Any, dataset: str, what: str) -> Path:
    if root is None or root == "":
        raise ValueError(f"{dataset}: needs the option root=DIR ({what}); nothing is downloaded")
    path = Path(os.fspath(root)).expanduser()
    if not path.is_dir():
        raise ValueError(f"{path}: no such folder; root must be the folder holding {what}")
    return path


def _to_float(frames_u8: np.ndarray) -> np.ndarray:
    out = frames_u8.astype(np.float32)
    out /= 255.0
    return out


# --------------------------------------------------------------------------------------------------------------
# reading videos and images
# --------------------------------------------------------------------------------------------------------------
# Decoded frames must not be fewer than the header's frame count minus this tolerance (else: truncated file).
FRAME_COUNT_TOLERANCE = 2


def _av():
    try:
        import av  # PyAV
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError("reading AVI videos needs PyAV: pip install av") from None
    return av


def _video_error(path: Path, err: BaseException) -> ValueError:
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ValueError(f"{path}: cannot decode video ({reason}); the file is truncated or not a video, copy it again")


def _iter_video(path: Path, channels: int) -> Iterable[np.ndarray]:
    """Yield the frames of a video as uint8 (H, W) or (H, W, 3); checks the count against the header."""
    av = _av()
    fmt = "rgb24" if channels == 3 else "gray"
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            expected = int(stream.frames or 0)
            for frame in container.decode(stream):
                count += 1
                yield frame.to_ndarray(format=fmt)
    except ValueError as err:  # av.error.FFmpegError subclasses are ValueErrors or OSErrors
        raise _video_error(path, err) from None
    except (OSError, RuntimeError, EOFError) as err:
        raise _video_error(path, err) from None
    if count == 0:
        raise ValueError(f"{path}: holds no decodable frame; the file is truncated or not a video, copy it again")
    if expected and count < expected - FRAME_COUNT_TOLERANCE:
        raise ValueError(
            f"{path}: decoded {count} frames but the header announces {expected}; the file is truncated, copy it again"
        )


def _video_length(path: Path) -> int:
    """Number of frames of a video: from its header when given, else by decoding it."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            frames = int(container.streams.video[0].frames or 0)
    except (ValueError, OSError, RuntimeError, EOFError) as err:
        raise _video_error(path, err) from None
    if frames > 0:
        return frames
    return sum(1 for _ in _iter_video(path, 1))


def read_image(path: Path, channels: int) -> np.ndarray:
    """An image file as uint8 (H, W) or (H, W, 3); one-line ValueError naming the file when unreadable."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB" if channels == 3 else "L"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path}: not a readable image ({reason}); replace or delete the file") from None


def _crop_centre(img: np.ndarray, crop: float) -> np.ndarray:
    if crop >= 1.0:
        return img
    h, w = img.shape[:2]
    ch, cw = max(1, int(round(h * crop))), max(1, int(round(w * crop)))
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top : top + ch, left : left + cw]


def resize_frame(img: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W[, 3]) -> (size, size[, 3]) with Pillow's bilinear filter (area-filtered when shrinking)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))


@dataclass
class _Video:
    key: str
    split: str
    path: Path  # the video file, or the folder of its frames
    images: list[Path] | None = None  # frame files, in order, for image sequences

    def length(self) -> int:
        return len(self.images) if self.images is not None else _video_length(self.path)

    def frames(self, wanted: set[int], channels: int) -> dict[int, np.ndarray]:
        """The frames with the given indices, uint8."""
        if self.images is not None:
            return {i: read_image(self.images[i], channels) for i in sorted(wanted)}
        out: dict[int, np.ndarray] = {}
        last = max(wanted)
        for i, frame in enumerate(_iter_video(self.path, channels)):
            if i in wanted:
                out[i] = frame
            if i >= last:
                break
        missing = sorted(wanted - set(out))
        if missing:
            raise ValueError(
                f"{self.path}: frame {missing[0]} is missing (the file decodes to fewer frames than its header "
                "announces); the file is truncated, copy it again"
            )
        return out


def _read_windows(
    dataset: str,
    videos: list[_Video],
    split: str,
    *,
    size: int | None,
    seed: int,
    fraction: float,
    frame_size: int,
    channels: int,
    seq_len: int,
    t_in: int,
    stride: int,
    frame_step: int,
    crop: float = 1.0,
    info: dict[str, Any] | None = None,
) -> SequenceData:
    """Cut the videos of one split into windows of seq_len frames, pick a seeded subset, decode only what is needed."""
    videos = [v for v in videos if v.split == split]
    if not videos:
        raise ValueError(f"{dataset}: found no video of split '{split}' under the root folder; check root and actions")
    span = (seq_len - 1) * frame_step + 1
    windows: list[tuple[int, int]] = []
    for vi, video in enumerate(videos):
        windows += [(vi, s) for s in range(0, video.length() - span + 1, stride)]
    if not windows:
        raise ValueError(f"{dataset}: the videos of split '{split}' are all shorter than {span} frames")
    chosen = choose_subset(np.arange(len(windows)), split, size, fraction, seed, source=dataset)
    out = np.empty((len(chosen), seq_len, frame_size, frame_size, channels), dtype=np.uint8)
    by_video: dict[int, list[tuple[int, int]]] = {}
    for row, w in enumerate(chosen):
        vi, start = windows[int(w)]
        by_video.setdefault(vi, []).append((row, start))
    for vi, rows in by_video.items():
        wanted = {start + k * frame_step for _, start in rows for k in range(seq_len)}
        decoded = videos[vi].frames(wanted, channels)
        small = {i: resize_frame(_crop_centre(img, crop), frame_size) for i, img in decoded.items()}
        for row, start in rows:
            for k in range(seq_len):
                img = small[start + k * frame_step]
                out[row, k] = img[..., None] if img.ndim == 2 else img
    frames = _to_float(out.transpose(0, 1, 4, 2, 3))
    del out
    meta = {
        "videos": [videos[windows[int(w)][0]].key for w in chosen],
        "starts": [windows[int(w)][1] for w in chosen],
        "frame_size": frame_size,
        "channels": channels,
        "stride": stride,
        "frame_step": frame_step,
        "uint8_exact": True,
    }
    meta.update(info or {})
    return SequenceData(dataset, split, frames, t_in, seq_len - t_in, meta)


_NO_CROP_OPTION = object()  # marks the readers without a crop option (they keep whole frames)


def _crop_fraction(crop: Any, dataset: str) -> float:
    """h36m's crop option: the kept fraction of each side of a frame, in (0, 1]."""
    try:
        kept = float(crop) if not isinstance(crop, bool) else -1.0
    except (TypeError, ValueError):
        kept = -1.0
    if not 0.0 < kept <= 1.0:
        raise ValueError(f"{dataset}: crop must be the kept fraction of the side in (0, 1], got {crop!r}")
    return kept


def _read_video_dataset(
    name: str,
    split: str,
    find: Callable[[Path, Sequence[str] | None], list[_Video]],
    *,
    root_holds: str,
    none_found: str,
    known_actions: Sequence[str] | None = None,
    size: int | None,
    seed: int,
    fraction: float,
    root: Any,
    actions: Any,
    frame_size: Any,
    channels: Any,
    seq_len: Any,
    t_in: Any,
    stride: Any,
    frame_step: Any,
    crop: Any = _NO_CROP_OPTION,
) -> SequenceData:
    """What kth, weizmann and h36m share: check the options, find the videos under root, read their windows.

    The three readers differ only in how they find videos (`find`) and in their messages: `root_holds` says what
    root must hold, `none_found` is the error when `find` finds nothing ("{actions}" in it names the actions asked
    for). `crop` is h36m's option as given: checked right after the actions and recorded in info.
    """
    check_common(split, size, seed, fraction, dataset=name)
    folder = _root(root, name, root_holds)
    acts = _name_list(actions, name, "actions", known_actions)
    info: dict[str, Any] = {"root": str(folder)}
    kept = 1.0
    if crop is not _NO_CROP_OPTION:
        kept = info["crop"] = _crop_fraction(crop, name)
    frame_size = int_at_least(frame_size, "frame_size", name, 8)
    channels = _channels(channels, name)
    seq_len, t_in = seq_len_and_t_in(seq_len, t_in, name)
    stride = seq_len if stride is None else int_at_least(stride, "stride", name, 1)
    frame_step = int_at_least(frame_step, "frame_step", name, 1)
    videos = find(folder, acts)
    if not videos:
        raise ValueError(f"{folder}: " + none_found.format(actions=",".join(acts or ())))
    return _read_windows(name, videos, split, size=size, seed=seed, fraction=fraction, frame_size=frame_size,
                         channels=channels, seq_len=seq_len, t_in=t_in, stride=stride, frame_step=frame_step,
                         crop=kept, info=info)


# --- KTH ------------------------------------------------------------------------------------------------------
KTH_ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
KTH_PERSONS = {"train": range(1, 15), "valid": range(15, 17), "test": range(17, 26)}
_KTH_NAME = re.compile(r"^person(\d+)_([a-z]+)_d(\d+)_uncomp$", re.IGNORECASE)
_KTH_FRAME = re.compile(r"^image_(\d+)\.(png|jpe?g|bmp)$", re.IGNORECASE)


def _kth_split(person: int) -> str | None:
    for split, persons in KTH_PERSONS.items():
        if person in persons:
            return split
    return None


def find_kth(root: Path, actions: Sequence[str] | None = None) -> list[_Video]:
    """The KTH videos under root (AVIs and frame trees), sorted by name."""
    found: dict[str, _Video] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(folder)
        match = _KTH_NAME.match(here.name)
        if match:
            frames = sorted(
                (int(m.group(1)), here / f) for f in files if (m := _KTH_FRAME.match(f))
            )
            if not frames:
                raise ValueError(f"{here}: a KTH frame folder without image_XXXX.png frames; fill or remove it")
            video = _kth_video(match, here, [p for _, p in frames])
            if video is not None and (actions is None or match.group(2).lower() in actions):
                found[here.name.lower()] = video
            dirs[:] = []
            continue
        for f in sorted(files):
            stem, ext = os.path.splitext(f)
            m = _KTH_NAME.match(stem)
            if ext.lower() == ".avi" and m and stem.lower() not in found:
                video = _kth_video(m, here / f, None)
                if video is not None and (actions is None or m.group(2).lower() in actions):
                    found[stem.lower()] = video
    return [found[k] for k in sorted(found)]


def _kth_video(match: re.Match, path: Path, images: list[Path] | None) -> _Video | None:
    split = _kth_split(int(match.group(1)))
    return None if split is None else _Video(path.stem if images is None else path.name, split, path, images)


@DATASETS.register(
    "kth", "KTH actions from local AVIs or frame trees (persons 1-14 train, 15-16 valid, 17-25 test); root=DIR"
)
def kth(
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    actions: str | Sequence[str] | None = None,
    frame_size: int = FRAME_SIZE,
    channels: int = 1,
    seq_len: int = SEQ_LEN,
    t_in: int = T_IN,
    stride: int | None = None,
    frame_step: int = 1,
) -> SequenceData:
    """KTH windows; see the module docstring."""
    return _read_video_dataset(
        "kth", split, find_kth, root_holds="the KTH AVIs or frame trees", known_actions=KTH_ACTIONS,
        none_found="no KTH video (personNN_<action>_dK_uncomp.avi or its frame folder) found",
        size=size, seed=seed, fraction=fraction, root=root, actions=actions, frame_size=frame_size, channels=channels,
        seq_len=seq_len, t_in=t_in, stride=stride, frame_step=frame_step,
    )


# --- Weizmann -------------------------------------------------------------------------------------------------
WEIZMANN_ACTORS = {"valid": ("lyova",), "test": ("moshe", "shahar")}
_WEIZMANN_NAME = re.compile(r"^([a-z]+)_([a-z]+\d*)$", re.IGNORECASE)


def _weizmann_split(actor: str) -> str:
    for split, actors in WEIZMANN_ACTORS.items():
        if actor in actors:
            return split
    return "train"


def find_weizmann(root: Path, actions: Sequence[str] | None = None) -> list[_Video]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            stem, ext = os.path.splitext(f)
            m = _WEIZMANN_NAME.match(stem)
            if ext.lower() != ".avi" or not m:
                continue
            actor, action = m.group(1).lower(), m.group(2).lower()
            if actions is not None and action not in actions and action.rstrip("0123456789") not in actions:
                continue
            found.append(_Video(stem, _weizmann_split(actor), Path(folder) / f))
    return sorted(found, key=lambda v: v.key)


@DATASETS.register(
    "weizmann", "Weizmann actions from local AVIs <actor>_<action>.avi (valid: lyova, test: moshe, shahar); root=DIR"
)
def weizmann(
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    actions: str | Sequence[str] | None = None,
    frame_size: int = FRAME_SIZE,
    channels: int = 1,
    seq_len: int = SEQ_LEN,
    t_in: int = T_IN,
    stride: int | None = None,
    frame_step: int = 1,
) -> SequenceData:
    """Weizmann windows; see the module docstring."""
    return _read_video_dataset(
        "weizmann", split, find_weizmann, root_holds="the Weizmann AVIs",
        none_found="no Weizmann video (<actor>_<action>.avi) found",
        size=size, seed=seed, fraction=fraction, root=root, actions=actions, frame_size=frame_size, channels=channels,
        seq_len=seq_len, t_in=t_in, stride=stride, frame_step=frame_step,
    )


# --- Human3.6M ------------------------------------------------------------------------------------------------
H36M_SUBJECTS = {"train": (1, 5, 6, 7), "valid": (8,), "test": (9, 11)}
_H36M_NAME = re.compile(r"^S(\d+)_([A-Za-z]+)(?:[ _](\d+))?\.(\w+?)_(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


def find_h36m(root: Path, actions: Sequence[str]) -> list[_Video]:
    groups: dict[tuple, list[tuple[int, Path]]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for f in files:
            m = _H36M_NAME.match(f)
            if not m or m.group(2).lower() not in actions:
                continue
            subject = int(m.group(1))
            split = next((s for s, subs in H36M_SUBJECTS.items() if subject in subs), None)
            if split is None:
                continue
            key = (subject, m.group(2), m.group(3) or "", m.group(4), split)
            groups.setdefault(key, []).append((int(m.group(5)), Path(folder) / f))
    videos = []
    for key in sorted(groups):
        subject, action, sub, cam, split = key
        frames = [p for _, p in sorted(groups[key])]
        label = f"S{subject}_{action}{'_' + sub if sub else ''}.{cam}"
        videos.append(_Video(label, split, frames[0].parent, frames))
    return videos


@DATASETS.register(
    "h36m", "Human3.6M Walking from the authors' flat JPEG folder (S1/5/6/7 train, S8 valid, S9/11 test); root=DIR"
)
def h36m(
    split: str,
    *,
    size: int | None = None,
    seed: int = 0,
    fraction: float = 1.0,
    cache_dir: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    actions: str | Sequence[str] | None = "walking",
    crop: float = 0.5,
    frame_size: int = FRAME_SIZE,
    channels: int = 3,
    seq_len: int = SEQ_LEN,
    t_in: int = T_IN,
    stride: int | None = None,
    frame_step: int = 1,
) -> SequenceData:
    """Human3.6M windows; see the module docstring."""
    return _read_video_dataset(
        "h36m", split, find_h36m, root_holds="the Human3.6M JPEGs S<subject>_<action>_<sub>.<camera>_<frame>.jpg",
        none_found="no Human3.6M frame (S11_Walking_1.54138969_000471.jpg) of {actions} found",
        size=size, seed=seed, fraction=fraction, root=root, actions=actions, frame_size=frame_size, channels=channels,
        seq_len=seq_len, t_in=t_in, stride=stride, frame_step=frame_step, crop=crop,
    )


# --------------------------------------------------------------------------------------------------------------
# procedural figures
# --------------------------------------------------------------------------------------------------------------
# Body template in units of the standing height (head top to sole ~ 1).
BODY = {
    "head": 0.062,  # radius
    "neck": 0.035,
    "torso": 0.30,
    "upper_arm": 0.165,
    "lower_arm": 0.16,
    "upper_leg": 0.245,
    "lower_leg": 0.245,
    "foot": 0.065,
    "shoulder": 0.085,  # half width
    "hip": 0.05,  # half width
    "r_torso": 0.06,
    "r_upper_arm": 0.026,
    "r_lower_arm": 0.021,
    "r_upper_leg": 0.037,
    "r_lower_leg": 0.029,
}

# Gait tables: period in frames (25 fps video), angles in degrees.
GAITS = {
    "walk": dict(period=(24, 30), hip=(20, 26), knee=(35, 45), shoulder=(15, 25), elbow=(10, 25), lean=(0, 3)),
    "jog": dict(period=(17, 21), hip=(28, 34), knee=(60, 75), shoulder=(25, 35), elbow=(70, 85), lean=(5, 9)),
    "run": dict(period=(13, 16), hip=(36, 44), knee=(85, 100), shoulder=(35, 50), elbow=(85, 95), lean=(10, 16)),
}
IN_PLACE_PERIOD = {"box": (12, 18), "wave": (18, 26), "clap": (10, 16)}


@dataclass(frozen=True)
class Style:
    """How one synthetic domain looks and moves."""

    name: str
    rgb: bool
    actions: tuple[str, ...]
    height: tuple[float, float]  # standing height / frame height (h36m: at the reference depth)
    body: dict[str, float]  # multipliers of BODY entries
    jitter: float  # per-sequence random relative change of every body measure
    period_scale: tuple[float, float]
    amp_scale: tuple[float, float]
    background: str  # plain | gradient | room
    perspective: bool  # walks anywhere on a floor seen in perspective (h36m-synth)
    description: str = ""


STYLES = {
    "kth-synth": Style(
        "kth-synth", False, ACTIONS, (0.5, 0.68), {}, 0.04, (0.95, 1.1), (0.9, 1.1), "plain", False,
        "KTH-like stand-in: grey stick figures on a plain light background, walk/jog/run/box/wave/clap (128x128, 4->4)",
    ),
    "weizmann-synth": Style(
        "weizmann-synth", False, ACTIONS, (0.38, 0.5),
        {"upper_leg": 1.1, "lower_leg": 1.1, "torso": 0.92, "head": 0.9, "r_torso": 0.8, "r_upper_arm": 0.8,
         "r_lower_arm": 0.8, "r_upper_leg": 0.8, "r_lower_leg": 0.8},
        0.05, (0.75, 0.9), (0.95, 1.15), "gradient", False,
        "Weizmann-like stand-in: small grey figures, other proportions and speeds, gradient outdoor background "
        "(128x128, 4->4)",
    ),
    "h36m-synth": Style(
        "h36m-synth", True, ("walk",), (0.65, 1.0), {}, 0.10, (0.5, 0.75), (0.8, 1.35), "room", True,
        "Human3.6M-like target: RGB walkers in a textured room, turning and moving in depth (128x128, 4->4)",
    ),
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _vec(s, l, y) -> np.ndarray:
    s, l, y = np.broadcast_arrays(np.asarray(s, float), np.asarray(l, float), np.asarray(y, float))
    return np.stack([s, l, y], axis=-1)


def _angle_dir(theta: np.ndarray, lateral: float | np.ndarray = 0.0) -> np.ndarray:
    """Unit vectors swung forward by theta (radians) from straight down, with a small lateral component."""
    return _unit(_vec(np.sin(theta), lateral, -np.cos(theta)))


def _rad(lo_hi: tuple[float, float], rng: np.random.Generator, scale: float = 1.0) -> float:
    return math.radians(rng.uniform(*lo_hi) * scale)


def pose(action: str, t: np.ndarray, body: dict[str, float], rng: np.random.Generator, amp: float, period_scale: float,
         arm_mode: str = "swing") -> tuple[dict[str, np.ndarray], float]:
    """Joint positions (T, 3) in body coordinates (forward s, lateral l to the right, up y; soles at y = 0).

    Returns the joints and the forward speed in body heights per frame (0 for actions in place).
    """
    T = len(t)
    b = body
    zero = np.zeros(T)
    speed = 0.0
    j: dict[str, np.ndarray] = {}
    if action in GAITS:
        g = GAITS[action]
        period = rng.uniform(*g["period"]) * period_scale
        phi = rng.uniform(0, 2 * math.pi) + 2 * math.pi * t / period
        a_hip, a_knee = _rad(g["hip"], rng, amp), _rad(g["knee"], rng, amp)
        a_sh, elbow = _rad(g["shoulder"], rng, amp), _rad(g["elbow"], rng)
        lean = _rad(g["lean"], rng)
        speed = 4.0 * (b["upper_leg"] + b["lower_leg"]) * math.sin(a_hip) / period
        spine = _vec(math.sin(lean), 0.0, math.cos(lean)) * np.ones((T, 1))
        for side, tag in ((1.0, "r"), (-1.0, "l")):
            ph = phi + (0.0 if side > 0 else math.pi)
            th_h = a_hip * np.sin(ph)
            th_k = a_knee * np.clip(np.cos(ph + 0.15 * math.pi), 0, None) ** 1.5 + math.radians(4)
            th_s = -a_sh * np.sin(ph)
            th_e = elbow * (1.0 + 0.25 * (0.5 + 0.5 * np.sin(ph)))
            j[f"hp_{tag}"] = _vec(zero, side * b["hip"], zero)
            j[f"kn_{tag}"] = j[f"hp_{tag}"] + b["upper_leg"] * _angle_dir(th_h, side * 0.02)
            j[f"ft_{tag}"] = j[f"kn_{tag}"] + b["lower_leg"] * _angle_dir(th_h - th_k)
            if arm_mode == "pocket" and side > 0:
                th_s, th_e = np.full(T, math.radians(5)), np.full(T, math.radians(15))
            elif arm_mode == "phone" and side > 0:
                th_s, th_e = np.full(T, math.radians(25)), np.full(T, math.radians(150))
            j[f"arm_{tag}"] = np.stack([th_s, th_s + th_e], axis=-1)
    elif action in IN_PLACE_PERIOD:
        period = rng.uniform(*IN_PLACE_PERIOD[action]) * period_scale
        phi = rng.uniform(0, 2 * math.pi) + 2 * math.pi * t / period
        lean = math.radians(6) if action == "box" else 0.0
        spine = _vec(math.sin(lean), 0.0, math.cos(lean)) * np.ones((T, 1))
        stance = math.radians(rng.uniform(6, 12))
        for side, tag in ((1.0, "r"), (-1.0, "l")):
            j[f"hp_{tag}"] = _vec(zero, side * b["hip"], zero)
            if action == "box":  # side view, one foot forward, knees bouncing
                bounce = math.radians(8) * (0.5 + 0.5 * np.sin(2 * phi))
                th_h = side * stance + zero
                j[f"kn_{tag}"] = j[f"hp_{tag}"] + b["upper_leg"] * _angle_dir(th_h + bounce)
                j[f"ft_{tag}"] = j[f"kn_{tag}"] + b["lower_leg"] * _angle_dir(th_h - bounce)
            else:  # facing the camera, feet apart
                leg = _unit(_vec(zero, side * math.sin(stance * 0.7), -math.cos(stance * 0.7)))
                j[f"kn_{tag}"] = j[f"hp_{tag}"] + b["upper_leg"] * leg
                j[f"ft_{tag}"] = j[f"kn_{tag}"] + b["lower_leg"] * leg
    else:
        raise ValueError(f"unknown action '{action}'; choose from {', '.join(ACTIONS)}")

    # stand the figure on its lowest foot
    lowest = np.minimum(j["ft_r"][:, 2], j["ft_l"][:, 2])
    lift = _vec(zero, zero, -lowest + b["r_lower_leg"])
    pelvis = lift
    neck = pelvis + b["torso"] * spine
    j["pelvis"], j["neck"] = pelvis, neck
    j["head"] = neck + (b["neck"] + b["head"]) * spine
    for tag in ("r", "l"):
        for part in ("hp", "kn", "ft"):
            j[f"{part}_{tag}"] = j[f"{part}_{tag}"] + lift

    for side, tag in ((1.0, "r"), (-1.0, "l")):
        shoulder = neck + _vec(zero, side * b["shoulder"], zero) - 0.02 * spine
        j[f"sh_{tag}"] = shoulder
        if action in GAITS:
            th_s, th_f = j.pop(f"arm_{tag}").T
            upper = _angle_dir(th_s, side * 0.08)
            fore = _angle_dir(th_f, side * 0.03)
        elif action == "box":
            ph = phi + (0.0 if side > 0 else math.pi)
            punch = np.clip(np.sin(ph), 0, None) ** 2
            th_s = np.radians(45 + 45 * punch)
            upper = _angle_dir(th_s, side * 0.15)
            fore = _angle_dir(th_s + np.radians(5 + 115 * (1 - punch)), -side * 0.1)
        elif action == "wave":
            beta = np.radians(100 + 60 * (0.5 + 0.5 * np.sin(phi)))
            gamma = beta + np.radians(25 * (0.5 + 0.5 * np.sin(phi - 0.5 * math.pi)))
            upper = _unit(_vec(0.05, side * np.sin(beta), -np.cos(beta)))
            fore = _unit(_vec(0.05, side * np.sin(gamma), -np.cos(gamma)))
        else:  # clap
            closing = 0.15 + 0.85 * (0.5 + 0.5 * np.sin(phi))
            upper = _unit(_vec(0.35 + zero, side * 0.3, -1.0))
            fore = _unit(_vec(0.6 + zero, -side * closing, 0.45))
        j[f"el_{tag}"] = shoulder + b["upper_arm"] * upper
        j[f"ha_{tag}"] = j[f"el_{tag}"] + b["lower_arm"] * fore
        j[f"toe_{tag}"] = j[f"ft_{tag}"] + _vec(b["foot"], 0.0, 0.0)
    return j, speed


# parts: (first joint, second joint, radius key, colour key); the torso and the head are drawn specially
_LIMBS = [
    ("sh", "el", "r_upper_arm", "shirt"),
    ("el", "ha", "r_lower_arm", "sleeve"),
    ("hp", "kn", "r_upper_leg", "trousers"),
    ("kn", "ft", "r_lower_leg", "trousers"),
    ("ft", "toe", "r_lower_leg", "shoes"),
]


def _smooth_noise(rng: np.random.Generator, cells: int, size: int, channels: int = 1) -> np.ndarray:
    """Smooth random field on [0, 1], (size, size, channels) float32: bicubic upsampling of a coarse random grid."""
    coarse = (rng.random((cells, cells, channels)) * 255).astype(np.uint8)
    img = Image.fromarray(coarse[..., 0] if channels == 1 else coarse, "L" if channels == 1 else "RGB")
    out = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) * np.float32(1 / 255)
    return out.reshape(size, size, channels)


def _background(style: Style, rng: np.random.Generator, size: int, camera: dict[str, float]) -> np.ndarray:
    """Background (size, size, 3) float32 on [0, 1] (grey domains: three equal channels)."""
    yy = (np.arange(size, dtype=np.float32)[:, None] + 0.5) / size
    xx = (np.arange(size, dtype=np.float32)[None, :] + 0.5) / size
    rng_uniform = rng.uniform

    def uniform(lo, hi, n=None):
        return np.float32(rng_uniform(lo, hi)) if n is None else rng_uniform(lo, hi, n).astype(np.float32)

    if style.background == "plain":
        level = uniform(0.62, 0.82)
        grey = level + uniform(-0.04, 0.04) * (yy - 0.5) + uniform(-0.03, 0.03) * (xx - 0.5)
        grey = grey + 0.02 * (_smooth_noise(rng, 3, size)[..., 0] - 0.5)
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1)
    if style.background == "gradient":
        horizon = uniform(0.35, 0.6)
        top, low = uniform(0.78, 0.95), uniform(0.62, 0.75)
        ground_near, ground_far = uniform(0.4, 0.55), uniform(0.55, 0.68)
        sky = top + (low - top) * (yy / horizon)
        ground = ground_far + (ground_near - ground_far) * (yy - horizon) / (1 - horizon)
        grey = np.where(yy < horizon, sky, ground) + 0.0 * xx
        grey = grey + 0.04 * (_smooth_noise(rng, 6, size)[..., 0] - 0.5)
        return np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1)
    # room: a wall with panels and blotches above the horizon, a tiled floor in perspective below it
    wall_colour = uniform(0.35, 0.8, 3) * uniform(0.85, 1.0)
    floor_colour = uniform(0.25, 0.65, 3)
    wall = wall_colour + 0.1 * (_smooth_noise(rng, 6, size, 3) - 0.5) + 0.06 * (_smooth_noise(rng, 24, size, 3) - 0.5)
    panels = int(rng.integers(3, 8))
    stripe = (np.floor(xx * panels + rng.random()) % 2)[..., None] * uniform(-0.08, 0.08, 3)
    wall = wall + stripe + 0.0 * yy[..., None]
    h = camera["horizon"]
    depth = camera["focal"] * camera["height"] / np.maximum(yy - h, 1e-3)  # floor distance of each row
    across = (xx - 0.5) * depth / camera["focal"]
    tile = camera["tile"]
    checker = ((np.floor(across / tile) + np.floor(depth / tile)) % 2)[..., None]
    floor = floor_colour + checker * uniform(0.05, 0.15) + 0.08 * (_smooth_noise(rng, 32, size, 3) - 0.5)
    img = np.where((yy < h)[..., None], wall, floor)
    return np.clip(img, 0, 1)


def _colours(style: Style, rng: np.random.Generator, background: float) -> dict[str, np.ndarray]:
    if style.rgb:
        def hsv(h, s, v):
            return np.asarray(Image.new("HSV", (1, 1), (int(h * 255), int(s * 255), int(v * 255))).convert("RGB")
                              .getpixel((0, 0)), dtype=np.float32) / 255.0
        skin = np.array([[0.92, 0.76, 0.64], [0.80, 0.60, 0.47], [0.58, 0.40, 0.29], [0.42, 0.29, 0.21]])[
            rng.integers(4)] * rng.uniform(0.9, 1.05)
        light = background < 0.5  # clothes stand out from the room: light on dark rooms, dark or vivid on light ones
        shirt = hsv(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.75, 1.0) if light else rng.uniform(0.1, 0.45))
        trousers = hsv(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.6, 0.9) if light else rng.uniform(0.05, 0.3))
        shoes = np.full(3, rng.uniform(0.05, 0.3))
        hair = hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.45))
        sleeve = shirt if rng.random() < 0.5 else skin
    else:
        dark = background > 0.5
        def grey(lo, hi):
            v = rng.uniform(lo, hi)
            return np.full(3, v if dark else 1.0 - v)
        shirt, trousers = grey(0.1, 0.45), grey(0.1, 0.42)
        skin, shoes, hair = grey(0.22, 0.5), grey(0.02, 0.2), grey(0.02, 0.25)
        sleeve = shirt if rng.random() < 0.6 else skin
    return {"shirt": shirt, "sleeve": sleeve, "trousers": trousers, "skin": skin, "shoes": shoes, "hair": hair}


def _rgb8(c: np.ndarray) -> tuple[int, int, int]:
    c = np.clip(np.asarray(c) * 255.0 + 0.5, 0, 255).astype(int)
    return int(c[0]), int(c[1]), int(c[2])


def render_sequence(style: Style, rng: np.random.Generator, seq_len: int, frame_size: int,
                    actions: Sequence[str] | None = None) -> np.ndarray:
    """One sequence (seq_len, frame_size, frame_size, 3) uint8 of the style's domain."""
    ss = SUPERSAMPLE
    big = frame_size * ss
    acts = tuple(actions) if actions else style.actions
    action = acts[int(rng.integers(len(acts)))]
    body = {k: v * style.body.get(k, 1.0) * rng.uniform(1 - style.jitter, 1 + style.jitter) for k, v in BODY.items()}
    standing = sum(body[k] for k in ("upper_leg", "lower_leg", "r_lower_leg", "torso", "neck")) + 2 * body["head"]
    body = {k: v / standing for k, v in body.items()}
    arm_mode = "swing"
    if style.perspective:
        arm_mode = str(rng.choice(["swing", "swing", "swing", "swing", "pocket", "phone"]))
    t = np.arange(seq_len, dtype=float)
    amp = rng.uniform(*style.amp_scale)
    joints, speed = pose(action, t, body, rng, amp, rng.uniform(*style.period_scale), arm_mode)
    mid = (seq_len - 1) / 2.0

    camera = {"horizon": rng.uniform(0.25, 0.38), "focal": 1.0, "height": rng.uniform(0.6, 0.75),
              "tile": rng.uniform(0.25, 0.5)}
    if style.perspective:
        # walk on the floor: heading psi (0 = to the right, pi/2 = away from the camera), turning, depth Z
        height0 = rng.uniform(*style.height)  # apparent height at the reference depth 1
        camera["focal"] = height0
        psi0 = rng.uniform(0, 2 * math.pi)
        turn = math.radians(rng.uniform(-4, 4))
        psi = psi0 + turn * (t - mid)
        z_mid = rng.uniform(1.0, 1.4)
        z_near = camera["focal"] * camera["height"] / (0.97 - camera["horizon"])  # soles at 97 % of the frame
        z_mid = max(z_mid, z_near)
        step = speed * rng.uniform(1.0, 1.3)
        # positions by integrating the heading from the middle frame
        xs, zs = np.zeros(seq_len), np.zeros(seq_len)
        for k in range(seq_len):
            tau = np.linspace(mid, k, 9)
            heading = psi0 + turn * (tau - mid)
            xs[k] = step * np.trapezoid(np.cos(heading), tau)
            zs[k] = step * np.trapezoid(np.sin(heading), tau)
        zs = np.maximum(zs + z_mid, 0.92 * z_near)
        x_mid_img = rng.uniform(0.3, 0.7)
        x_world = (x_mid_img - 0.5) * z_mid / camera["focal"] + xs
        scale = camera["focal"] / zs * big
        cx = (0.5 + x_world * camera["focal"] / zs) * big
        ground = (camera["horizon"] + camera["focal"] * camera["height"] / zs) * big
    else:
        height_px = rng.uniform(*style.height) * big
        scale = np.full(seq_len, height_px)
        if action in GAITS or action == "box":
            psi = np.full(seq_len, 0.0 if rng.random() < 0.5 else math.pi)
        else:
            psi = np.full(seq_len, -math.pi / 2 + rng.uniform(-0.15, 0.15))
        x_mid = rng.uniform(0.3, 0.7) * big
        cx = x_mid + np.cos(psi) * speed * height_px * (t - mid)
        ground = np.full(seq_len, rng.uniform(0.82, 0.95) * big)
        if style.background == "gradient":
            ground = np.full(seq_len, rng.uniform(0.8, 0.93) * big)

    background = _background(style, rng, frame_size, camera)
    colours = _colours(style, rng, float(background.mean()))
    base = Image.fromarray((background * 255.0 + 0.5).astype(np.uint8), "RGB")
    base = base.resize((big, big), Image.Resampling.BILINEAR)
    cos, sin = np.cos(psi), np.sin(psi)

    # image x, image y and depth (larger = farther) of every joint in every frame, as plain floats
    projected: dict[str, list[tuple[float, float, float]]] = {}
    for key, p in joints.items():
        s_, l_, y_ = p[:, 0], p[:, 1], p[:, 2]
        xyd = np.stack([cx + scale * (s_ * cos + l_ * sin), ground - scale * y_, s_ * sin - l_ * cos], axis=-1)
        projected[key] = [tuple(v) for v in xyd.tolist()]
    fills = {key: _rgb8(c) for key, c in colours.items()}

    def project(key: str, k: int) -> tuple[float, float, float]:
        return projected[key][k]

    frames = np.empty((seq_len, frame_size, frame_size, 3), dtype=np.uint8)
    for k in range(seq_len):
        img = base.copy()
        draw = ImageDraw.Draw(img)
        parts = []
        for side in ("r", "l"):
            for a, bb, rkey, ckey in _LIMBS:
                p0, p1 = project(f"{a}_{side}", k), project(f"{bb}_{side}", k)
                parts.append(((p0[2] + p1[2]) / 2, "limb", p0, p1, body[rkey] * scale[k], fills[ckey]))
        pel, nk, hd = project("pelvis", k), project("neck", k), project("head", k)
        parts.append((0.0, "torso", pel, nk, body["r_torso"] * scale[k], fills["shirt"]))
        parts.append((-1e-3, "head", hd, hd, body["head"] * scale[k], fills["skin"]))
        for depth, kind, p0, p1, r, fill in sorted(parts, key=lambda q: -q[0]):
            if kind == "limb":
                draw.line([p0[:2], p1[:2]], fill=fill, width=max(1, int(round(2 * r))))
                for p in (p0, p1):
                    draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=fill)
            elif kind == "torso":
                dx, dy = p1[0] - p0[0], p1[1] - p0[1]
                n = math.hypot(dx, dy) or 1.0
                ux, uy = -dy / n, dx / n
                lateral = abs(sin[k])
                ws = max(r, (body["shoulder"] * lateral + 0.6 * body["r_upper_arm"]) * scale[k])
                wh = max(0.9 * r, (body["hip"] * lateral + 0.8 * body["r_upper_leg"]) * scale[k])
                draw.polygon([(p1[0] + ux * ws, p1[1] + uy * ws), (p1[0] - ux * ws, p1[1] - uy * ws),
                              (p0[0] - ux * wh, p0[1] - uy * wh), (p0[0] + ux * wh, p0[1] + uy * wh)], fill=fill)
                draw.line([p0[:2], p1[:2]], fill=fill, width=max(1, int(round(2 * r))))
                for p, w in ((p0, wh), (p1, r)):
                    draw.ellipse([p[0] - w, p[1] - w, p[0] + w, p[1] + w], fill=fill)
            else:
                rx, ry = 0.9 * r, 1.1 * r
                draw.ellipse([p0[0] - rx, p0[1] - ry, p0[0] + rx, p0[1] + ry], fill=fill)
                draw.chord([p0[0] - rx, p0[1] - ry, p0[0] + rx, p0[1] + ry], 180, 360, fill=fills["hair"])
        frames[k] = np.asarray(img.reduce(ss))  # box filter: anti-aliasing
    return frames


def _domain_key(name: str) -> int:
    return zlib.crc32(name.encode())


def generate(name: str, split: str, n: int, *, seed: int = 0, frame_size: int = FRAME_SIZE, seq_len: int = SEQ_LEN,
             channels: int | None = None, actions: Sequence[str] | None = None) -> np.ndarray:
    """n sequences of a synthetic domain as uint8 (n, seq_len, C, frame_size, frame_size)."""
    style = STYLES[name]
    channels = (3 if style.rgb else 1) if channels is None else channels
    out = np.empty((n, seq_len, channels, frame_size, frame_size), dtype=np.uint8)
    key = [_domain_key(name), SPLITS.index(split), int(seed)]
    for i in range(n):
        seq = render_sequence(style, np.random.default_rng(key + [i]), seq_len, frame_size, actions)
        if channels == 1:
            if style.rgb:  # luminance, ITU-R 601
                seq = (seq.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)
            else:
                seq = seq[..., 0]
            out[i, :, 0] = seq
        else:
            out[i] = seq.transpose(0, 3, 1, 2)
    return out


def _synth_factory(name: str) -> Callable[..., SequenceData]:
    style = STYLES[name]

    def factory(
        split: str,
        *,
        size: int | None = None,
        seed: int = 0,
        fraction: float = 1.0,
        cache_dir: str | os.PathLike | None = None,
        frame_size: int = FRAME_SIZE,
        seq_len: int = SEQ_LEN,
        t_in: int = T_IN,
        channels: int | None = None,
        actions: str | Sequence[str] | None = None,
    ) -> SequenceData:
        check_common(split, size, seed, fraction, dataset=name)
        fs = int_at_least(frame_size, "frame_size", name, 16)
        sl, ti = seq_len_and_t_in(seq_len, t_in, name)
        ch = (3 if style.rgb else 1) if channels is None else _channels(channels, name)
        acts = _name_list(actions, name, "actions", style.actions)
        n = resolve_size(split, size, fraction, SYNTH_SIZES[split])
        frames_u8 = generate(name, split, n, seed=seed, frame_size=fs, seq_len=sl, channels=ch, actions=acts)
        frames = _to_float(frames_u8)
        del frames_u8
        info = {"generator": name, "frame_size": fs, "actions": list(acts or style.actions), "uint8_exact": True}
        return SequenceData(name, split, frames, ti, sl - ti, info)

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = f"{style.description}; see transmem.data.human_motion."
    return factory


for _name, _style in STYLES.items():
    DATASETS.register(_name, _style.description)(_synth_factory(_name))
del _name, _style


# --------------------------------------------------------------------------------------------------------------
# difficulty
# --------------------------------------------------------------------------------------------------------------
def persistence_mse(frames: np.ndarray, t_in: int, leads: Sequence[int] | None = None) -> dict[int, float]:
    """Per-frame MSE (sum over pixels and channels on [0, 1], mean over sequences) of repeating frame t_in - 1.

    frames: (N, T, C, H, W); returns {lead: mse} for leads 1.. (default: every output frame).
    """
    leads = list(range(1, frames.shape[1] - t_in + 1)) if leads is None else list(leads)
    last = frames[:, t_in - 1].astype(np.float64)
    out = {}
    for lead in leads:
        diff = frames[:, t_in - 1 + lead].astype(np.float64) - last
        out[lead] = float(np.square(diff).sum(axis=(1, 2, 3)).mean())
    return out
