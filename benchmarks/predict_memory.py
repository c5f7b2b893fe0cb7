#!/usr/bin/env python
"""Peak memory of `transmem predict` on a long high-resolution video: it must be bounded by what predict keeps
(the last --t-in frames at the model's frame size), not by the clip's length or resolution.

It writes a generated video (default: 5 minutes of 1280x720 at 25 fps, MPEG-4), then runs `transmem predict` on it
with a shipped 32x32 source model in a fresh process, and reports that process's peak resident memory beside the
size the whole clip would take decoded to float32.

    .venv/bin/python benchmarks/predict_memory.py                 # 5 minutes of 720p
    .venv/bin/python benchmarks/predict_memory.py --seconds 30    # a shorter clip
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from transmem.machine import cpu_label

ROOT = Path(__file__).resolve().parents[1]


def write_video(path: Path, *, seconds: float, width: int, height: int, fps: int) -> int:
    """A moving colour gradient with a bright square crossing it; returns the frame count."""
    import av

    frames = int(seconds * fps)
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            pixels = np.empty((height, width, 3), dtype=np.uint8)
            pixels[..., 0] = (xx + 4 * i) % 256
            pixels[..., 1] = (yy + 2 * i) % 256
            pixels[..., 2] = 96
            x = (8 * i) % (width - 64)
            pixels[100:164, x : x + 64] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames


def peak_rss_of(command: list[str]) -> tuple[float, float]:
    """(peak resident memory in GiB, wall seconds) of a command run as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    tic = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - tic
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux: the largest child so far
    if peak <= before:
        raise SystemExit("could not measure the child's peak memory (an earlier child was larger); run alone")
    return peak / 2**20, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=300.0, help="clip length (default 300: 5 minutes)")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--t-in", type=int, default=10)
    p.add_argument("--model", default=str(ROOT / "zoo/demo-mnist1/model.safetensors"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long.mp4"
        tic = time.perf_counter()
        frames = write_video(video, seconds=args.seconds, width=args.width, height=args.height, fps=args.fps)
        written = time.perf_counter() - tic
        baseline, _ = peak_rss_of([sys.executable, "-c", "import transmem.cli, torch, av"])
        peak, seconds = peak_rss_of([sys.executable, "-m", "transmem", "predict", args.model, str(video),
                                     "--t-in", str(args.t_in), "--horizon", "10", "--out", str(Path(tmp) / "out")])
    whole = frames * 3 * args.width * args.height * 4 / 2**30
    print(f"CPU: {cpu_label()}; the video: {frames} frames of "
          f"{args.width}x{args.height} ({video.suffix}, written in {written:.0f} s)")
    print("| what | peak resident memory | wall time |")
    print("|---|---|---|")
    print(f"| python + torch + PyAV imported, nothing read | {baseline:.2f} GiB | |")
    print(f"| `transmem predict --t-in {args.t_in}` on the whole clip | {peak:.2f} GiB | {seconds:.0f} s |")
    print(f"| the clip decoded to float32 (what it would cost unstreamed) | {whole:.1f} GiB | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
