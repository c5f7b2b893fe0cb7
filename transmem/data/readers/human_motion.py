"""Readers of the human motion benchmark (paper section 4.2): KTH and Weizmann sources -> Human3.6M target.

128x128 frames, 4 input -> 4 output frames, values on [0, 1]; local files only, never downloaded (option ``root``
is required). The generated stand-ins (kth-synth, ...) are transmem.data.synthetic.stick_figures.

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
"""
from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path
from typing import Sequence

from transmem.data.factory import dataset
from transmem.data.readers.video_windows import Video, VideoFamily, read_video_set


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


def find_kth(root: Path, actions: Sequence[str] | None = None) -> list[Video]:
    """The KTH videos under root (AVIs and frame trees), sorted by name."""
    found: dict[str, Video] = {}
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


def _kth_video(match: re.Match, path: Path, images: list[Path] | None) -> Video | None:
    split = _kth_split(int(match.group(1)))
    return None if split is None else Video(path.stem if images is None else path.name, split, path, images)


KTH = VideoFamily("kth", find_kth, "the KTH AVIs or frame trees",
                  "no KTH video (personNN_<action>_dK_uncomp.avi or its frame folder) found", KTH_ACTIONS)
dataset("kth", "KTH actions from local AVIs or frame trees (persons 1-14 train, 15-16 valid, 17-25 test); root=DIR",
        drop=("crop",))(partial(read_video_set, KTH))


# --- Weizmann -------------------------------------------------------------------------------------------------
WEIZMANN_ACTORS = {"valid": ("lyova",), "test": ("moshe", "shahar")}
_WEIZMANN_NAME = re.compile(r"^([a-z]+)_([a-z]+\d*)$", re.IGNORECASE)


def _weizmann_split(actor: str) -> str:
    for split, actors in WEIZMANN_ACTORS.items():
        if actor in actors:
            return split
    return "train"


def find_weizmann(root: Path, actions: Sequence[str] | None = None) -> list[Video]:
    """The Weizmann AVIs under root, sorted by name."""
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
            found.append(Video(stem, _weizmann_split(actor), Path(folder) / f))
    return sorted(found, key=lambda v: v.key)


WEIZMANN = VideoFamily("weizmann", find_weizmann, "the Weizmann AVIs",
                       "no Weizmann video (<actor>_<action>.avi) found")
dataset(
    "weizmann", "Weizmann actions from local AVIs <actor>_<action>.avi (valid: lyova, test: moshe, shahar); root=DIR",
    drop=("crop",),
)(partial(read_video_set, WEIZMANN))


# --- Human3.6M ------------------------------------------------------------------------------------------------
H36M_SUBJECTS = {"train": (1, 5, 6, 7), "valid": (8,), "test": (9, 11)}
_H36M_NAME = re.compile(r"^S(\d+)_([A-Za-z]+)(?:[ _](\d+))?\.(\w+?)_(\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


def find_h36m(root: Path, actions: Sequence[str]) -> list[Video]:
    """The Human3.6M videos under root: the frame files of each (subject, action, subaction, camera)."""
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
        videos.append(Video(label, split, frames[0].parent, frames))
    return videos


H36M = VideoFamily("h36m", find_h36m, "the Human3.6M JPEGs S<subject>_<action>_<sub>.<camera>_<frame>.jpg",
                   "no Human3.6M frame (S11_Walking_1.54138969_000471.jpg) of {actions} found")
dataset(
    "h36m", "Human3.6M Walking from the authors' flat JPEG folder (S1/5/6/7 train, S8 valid, S9/11 test); root=DIR",
    defaults={"actions": "walking", "crop": 0.5, "channels": 3},
)(partial(read_video_set, H36M))
