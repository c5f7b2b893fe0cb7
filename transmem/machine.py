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
