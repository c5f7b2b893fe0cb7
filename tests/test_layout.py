"""The package's layout rules (docs/architecture.md): the command line sits on top of the library and nothing else
imports it, and no module of the package passes 500 lines."""
import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import transmem.cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "transmem"
MAX_LINES = 500


def cli_imports(source: str, module: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, name) of every import of transmem.cli in `source`, the text of `module` (("transmem", "data", "stats"));
    relative imports are resolved against the module's package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*module[: len(module) - node.level], *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "transmem.cli" or n.startswith("transmem.cli.")]
    return found


def _outside_cli() -> list[Path]:
    """Every source file that must not import transmem.cli: the package but cli/ and __main__.py, experiments/,
    benchmarks/."""
    files = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "cli"]
    files = [p for p in files if p != PACKAGE / "__main__.py"]
    for folder in ("experiments", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return sorted(files)


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules(transmem.cli.__path__)))
def test_every_command_module_imports(name):
    module = importlib.import_module(f"transmem.cli.{name}")
    assert hasattr(module, "add_parser"), f"transmem.cli.{name} is not a command module (no add_parser)"


def test_nothing_outside_the_command_line_imports_it():
    files = _outside_cli()
    assert PACKAGE / "data" / "__init__.py" in files and any("experiments" in p.parts for p in files)
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in files
        for line, name in cli_imports(path.read_text(), path.relative_to(ROOT).with_suffix("").parts)
    ]
    assert not offenders, "library code, experiments and benchmarks must not import transmem.cli:\n" + "\n".join(
        offenders
    )


def test_the_check_sees_relative_and_package_imports():
    source = "\n".join(["from ..cli import demo", "from transmem import cli", "import transmem.cli.train",
                         "from transmem.data import io"])
    hits = [name for _, name in cli_imports(source, ("transmem", "data", "probe"))]
    assert hits == ["transmem.cli", "transmem.cli.demo", "transmem.cli", "transmem.cli.train"]


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"
