"""`transmem demo`: a TMU network learning from two sources, end to end in seconds.

Builds a TMU-ConvLSTM with two (randomly initialised) frozen sources, runs one training step of Eq. 6 and a
prediction from input frames alone, and prints the parameter table of the paper's configuration.
"""
from __future__ import annotations

import argparse

import torch

from transmem.models import MemoryBank, NetConfig, PredictiveNet
from transmem.models.summary import parameter_rows
from transmem.training.objective import transfer_objective


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="a small end-to-end run (see README)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    torch.set_flush_denormal(True)
    target = NetConfig(frame_size=(64, 64), patch_size=4, hidden=(32, 32), kernel_size=5, n_sources=2)
    sources = [PredictiveNet(target.replace(n_sources=0)) for _ in range(2)]
    bank = MemoryBank(sources, target=target, names=["random-a", "random-b"])
    net = PredictiveNet(target)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    frames = torch.rand(4, 20, 1, 64, 64)
    memories = bank.collect(frames, t_in=10)
    out = net(frames, t_in=10)
    loss, parts = transfer_objective(out.frames, frames[:, 1:], out.distilled, memories, beta=0.1)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"one training step of TMU-ConvLSTM with 2 sources: " + ", ".join(f"{k} {v:.4f}" for k, v in parts.items()))
    future = net.predict(frames[:, :10], horizon=10)
    print(f"prediction from 10 input frames alone: {tuple(future.shape)}")
    print("\nparameters (paper configuration, 64x64x1, patch 4, 4 x 64 hidden, 5x5):")
    for r in parameter_rows(NetConfig(), 2):
        print(f"  {r['model']:<14} {r['variant']:<9} train {r['train'] / 1e6:5.2f}M  test {r['test'] / 1e6:5.2f}M")
    return 0
