"""`transmem predict`: the future of the user's own frames from a trained checkpoint alone (no source, no labels).

Input: a .npy/.npz sequence, a folder of PNG/JPEG frames, a GIF or a video. Frames are converted to the model's
channels and frame size. Output: prediction.npy (T, C, H, W), prediction.png (inputs above, predictions below)
and prediction.gif (inputs followed by predictions).

A stochastic model (savp) draws its future from its prior, seeded by --seed; with --samples N it writes N futures:
prediction.npy (N, T, C, H, W), and the first few of them as rows of the PNG and side by side in the GIF.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from transmem.cli import UserError, positive_int
from transmem.data.io import read_frames, write_gif, write_npy, write_strip
from transmem.evaluation.evaluate import seeded_generator
from transmem.evaluation.samples import sample_futures
from transmem.models.network import NetConfig
from transmem.training.predictor import load_predictor
from transmem.training.trainer import resolve_device


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict future frames of your own frames with a trained checkpoint")
    p.add_argument("checkpoint", help="a model checkpoint (best.safetensors) or zoo model file")
    p.add_argument("input", help=".npy/.npz sequence, folder of images, GIF or video")
    p.add_argument("--horizon", type=positive_int, help="frames to predict (default: the training run's output length)")
    p.add_argument("--t-in", type=positive_int, help="use the last T_IN input frames (default: all of them)")
    p.add_argument("--out", default="prediction", help="output folder (default ./prediction)")
    p.add_argument("--cmap", help="colormap for one-channel frames in the pictures, e.g. viridis for radar")
    p.add_argument("--samples", type=positive_int, default=1,
                   help=f"stochastic models (savp): write N futures drawn from the prior (the first {SHOWN} are drawn)")
    p.add_argument("--seed", type=int, default=0, help="seed of a stochastic model's samples (default 0)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


SHOWN = 4  # samples drawn in the PNG strip and the GIF


@torch.inference_mode()  # predictions only: no autograd state is kept (faster than no_grad)
def run(args: argparse.Namespace) -> int:
    net, meta = load_predictor(args.checkpoint)
    cfg = NetConfig.from_dict(meta["net"])
    stochastic = getattr(net, "stochastic", False)
    if args.samples > 1 and not stochastic:
        raise UserError(f"--samples {args.samples} needs a stochastic backbone (savp), but '{cfg.backbone}' is "
                        "deterministic (one future per input); drop --samples")
    # only the last t_in frames are decoded into memory, at the model's size (a long video costs no more)
    frames = read_frames(args.input, channels=cfg.frame_channels, frame_size=cfg.frame_size, last_frames=args.t_in)
    if args.t_in is not None:
        if args.t_in > len(frames):
            raise ValueError(f"--t-in {args.t_in} asks for more frames than {args.input} holds ({len(frames)})")
        frames = frames[-args.t_in :]
    horizon = args.horizon
    if horizon is None:  # the training run's output length
        horizon = meta.get("config", {}).get("data", {}).get("options", {}).get("t_out") or 10
    device = resolve_device(args.device)
    x = torch.from_numpy(np.ascontiguousarray(frames)).unsqueeze(0).to(device)
    noise = {"generator": seeded_generator(args.seed, device)} if stochastic else {}
    out = Path(args.out)
    if args.samples > 1:
        futures = sample_futures(net.to(device), x, horizon, n=args.samples, **noise)[0].clamp(0, 1).cpu().numpy()
        out.mkdir(parents=True, exist_ok=True)
        write_npy(out / "prediction.npy", futures)
        shown = list(futures[:SHOWN])
        write_strip(out / "prediction.png", [frames, *shown], cmap=args.cmap,
                    row_labels=["input", *(f"sample {k + 1}" for k in range(len(shown)))])
        write_gif(out / "prediction.gif", [np.concatenate([frames, f]) for f in shown], cmap=args.cmap)
        what, shape = f"{args.samples} samples of {horizon} predicted frames", futures.shape[2:]
    else:
        future = net.to(device).predict(x, horizon=horizon, **noise)[0].clamp(0, 1).cpu().numpy()
        out.mkdir(parents=True, exist_ok=True)
        write_npy(out / "prediction.npy", future)
        write_strip(out / "prediction.png", [frames, future], row_labels=["input", "prediction"], cmap=args.cmap)
        write_gif(out / "prediction.gif", np.concatenate([frames, future]), cmap=args.cmap)
        what, shape = f"{horizon} predicted frames", future.shape[1:]
    print(f"{len(frames)} input frames -> {what} of {tuple(shape)}; wrote "
          f"{out / 'prediction.npy'}, {out / 'prediction.png'}, {out / 'prediction.gif'}")
    return 0
