"""What the readers and writers share to keep every error one line that names the file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class Final(Exception):
    """An error message already in its final form (raised inside a broad try block, re-raised as ValueError)."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def reason(err: BaseException) -> str:
    """Like `first_line`, stripped and cut to 200 characters (for messages of libraries that can be long)."""
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def check_int(path: Path, name: str, value: Any, low: int) -> None:
    """A reader's or writer's integer argument >= low; the error names the file."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{path}: {name} must be an integer >= {low}, got {value!r}")
