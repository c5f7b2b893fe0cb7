"""Importing the experiment scripts (experiments/run.py, a study's report.py) in tests: they are files, not a
package, and find their neighbours (report_common) on sys.path."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load(name: str, path: Path):
    sys.path.insert(0, str(ROOT / "experiments"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def runner():
    return load("run", ROOT / "experiments/run.py")
