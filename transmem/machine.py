"""What machine a measurement ran on, for result files and benchmark tables (speeds differ from CPU to CPU)."""
from __future__ import annotations

import platform

BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2")  # what decides bf16 (and fp32) CPU speed
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # either one: bf16 arithmetic in hardware


def _cpuinfo() -> str:
    """/proc/cpuinfo's text; empty off Linux."""
    try:
        with open("/proc/cpuinfo") as info:
            return info.read()
    except OSError:
        return ""


def _field(cpuinfo: str, name: str) -> str | None:
    """The value of the first `name : value` line of cpuinfo text."""
    return next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                 if ln.startswith(name) and ":" in ln), None)


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo's text (read when not given), else what the platform module says."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    return _field(text, "model name") or platform.processor() or platform.machine()


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """The CPU's family and model numbers ("family 26 model 2"), which tell apart CPUs sold under one name: two
    "AMD EPYC" machines here trained the same step 2.3x apart. None where /proc/cpuinfo has no such lines."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    family, model = _field(text, "cpu family"), _field(text, "model\t")
    return f"family {family} model {model}" if family and model else None


def cpu_label(cpuinfo: str | None = None) -> str:
    """The CPU as performance docs name it: its name and, where known, its family and model numbers."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    return " ".join(filter(None, (cpu_name(text), cpu_model(text))))


def cpu_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The BF16_FLAGS the CPU has, from /proc/cpuinfo's text (read when not given; empty tuple off Linux)."""
    have = set((_field(_cpuinfo() if cpuinfo is None else cpuinfo, "flags") or "").split())
    return tuple(f for f in BF16_FLAGS if f in have)
