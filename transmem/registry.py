"""The one place where the names of backbones, datasets and training methods live.

Each kind has a `Registry`; modules register their entries with a decorator at import time, and the
command line, the configs and the docs all read names from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    description: str


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str) -> Callable[[Any], Any]:
        def add(obj: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = Entry(name, obj, description)
            return obj

        return add

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry:
        _load_all()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of: {known}")
        return self._entries[name]

    def names(self) -> list[str]:
        _load_all()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        _load_all()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __contains__(self, name: str) -> bool:
        _load_all()
        return name in self._entries


def check_choice(what: str, value: Any, allowed: tuple[str, ...] | list[str]) -> None:
    """Refuse a setting outside its fixed choices in one line, naming the setting and what it accepts. `value` is
    shown by its repr, so a name holding a newline or quotes still gives one readable line."""
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")


BACKBONES = Registry("backbone")
DATASETS = Registry("dataset")
METHODS = Registry("method")


def _load_all() -> None:
    """Import the modules that register entries (cheap after the first call)."""
    import transmem.data  # noqa: F401
    import transmem.models  # noqa: F401
    import transmem.training  # noqa: F401
