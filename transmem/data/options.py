"""Dataset options: the checks of the values a factory receives (one-line errors naming the dataset), and
reading options from the KEY=VALUE text of the command line and the configs."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, 'none' -> None, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """['frame-size=32', 'path=/a=b'] -> {'frame_size': 32, 'path': '/a=b'} (values read by `parse_value`)."""
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--option expects key=value, got '{item}'")
        options[key] = parse_value(value)
    return options


def int_option(value: Any, name: str, dataset: str, *, low: int = 1) -> int:
    """An integer option >= low; accepts integral floats and digit strings, and echoes the value as given."""
    out = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = int(value)
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        out = int(value)
    if out is None or out < low:
        raise ValueError(f"{dataset}: {name} must be an integer >= {low}, got {value!r}")
    return out


def int_at_least(value: Any, name: str, dataset: str, low: int) -> int:
    """An integer option >= low, as the human motion and radar datasets check theirs.

    Takes integers, integral floats and digit strings like `int_option`; the difference is the error, which echoes
    the value after parsing ('4' and 4.0 read as 4). Kept apart from `int_option` so neither family's messages change.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{dataset}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def seq_len_and_t_in(seq_len: Any, t_in: Any, dataset: str) -> tuple[int, int]:
    """Checked (seq_len, t_in) of a windowed dataset: at least 2 frames, of which 1 .. seq_len - 1 are input."""
    seq_len = int_at_least(seq_len, "seq_len", dataset, 2)
    t_in = int_at_least(t_in, "t_in", dataset, 1)
    if t_in >= seq_len:
        raise ValueError(f"{dataset}: t_in={t_in} must be smaller than seq_len={seq_len}")
    return seq_len, t_in


def channels_option(value: Any, dataset: str) -> int:
    """1 (grey) or 3 (RGB); digit strings accepted."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value not in (1, 3) or isinstance(value, bool):
        raise ValueError(f"{dataset}: channels must be 1 (grey) or 3 (RGB), got {value!r}")
    return int(value)


def name_list(value: Any, dataset: str, what: str, known: Sequence[str] | None = None) -> tuple[str, ...] | None:
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


def root_folder(root: Any, dataset: str, what: str) -> Path:
    """The existing folder named by a reader's ``root`` option; `what` says what it must hold."""
    if root is None or root == "":
        raise ValueError(f"{dataset}: needs the option root=DIR ({what}); nothing is downloaded")
    path = Path(os.fspath(root)).expanduser()
    if not path.is_dir():
        raise ValueError(f"{path}: no such folder; root must be the folder holding {what}")
    return path


def path_option(path: Any, dataset: str, what: str) -> Path:
    """A reader's required ``path`` option as a Path (its existence is checked where it is read)."""
    if path is None or path == "":
        raise ValueError(f"{dataset}: needs the option path={what}")
    return Path(os.fspath(path)).expanduser()
