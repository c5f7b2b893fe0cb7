"""What machine a measurement ran on, for result files and benchmark tables (speeds differ from CPU to CPU)."""
from __future__ import annotations

import platform


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform module says."""
    fallback = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:  # not Linux
        return fallback
    return names[0] if names else fallback


BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2")  # what decides bf16 (and fp32) CPU speed


def cpu_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The BF16_FLAGS the CPU has, from /proc/cpuinfo's text (read when not given; empty tuple off Linux)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as info:
                cpuinfo = info.read()
        except OSError:
            return ()
    line = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
    have = set(line.split(":", 1)[1].split()) if ":" in line else set()
    return tuple(f for f in BF16_FLAGS if f in have)
