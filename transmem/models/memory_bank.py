"""The memory bank (paper section 3.1): M frozen source networks that see the target's clips and expose their
memory states per layer and time step, as the targets of the distillation loss (Eq. 4).

Sources run without autograd, in eval mode, never in the optimizer. They take the same clip and the same
scheduled-sampling mask as the target; where the mask hides the true frame a source feeds back its own prediction
(as in the authors' code), so each source's memories show its own reading of the clip and the whole bank can run
before the target, once per batch.

Alignment. A source may differ from the target in patch size, frame size, frame channels and depth:
- frames are adapted to the source (grey <-> RGB; resized to the source's frame size, so with the paper's
  per-domain sub-scaling K the state grids agree, e.g. a 64x64 patch-2 source for a 128x128 patch-4 target);
- target layer k reads source layer `layer_map[k]` (default: the same layer when depths agree, else the layer at
  the same relative depth);
- the memory shapes (channels, height, width) must then agree; if not, the error names both shapes and the
  setting that would align them.

Stochastic sources (the savp backbone) run with their posterior's mean at every step: the posterior reads the
true frames of the clip, as the target's own posterior does in training, and the mean makes a source's memories
a deterministic function of the clip (no sampling noise in the distillation targets).

Speed (docs/performance.md). `collect` runs each distinct source module once per clip under inference mode and
writes its memories straight into the bank's (B, T-1, M, C, h, w) tensors (no per-source copies, no stacking).
With `batch_sources=True`, sources of one architecture (same config and layer map) run together: their weights
are stacked (torch.func.stack_module_state) and one rollout is vmapped over them, so every convolution becomes one
grouped convolution over the sources. Whether that is faster depends on the machine (see the benchmark); the
values are those of the per-source loop up to float rounding (tests/test_fast_paths.py).

Precision. With `precision = "bf16"` the sources roll out under bf16 autocast even when the target trains in fp32
(the trainer sets it where a probe found it faster, training/precision.py); the bank itself stays fp32. "fp32"
adds nothing: the sources then run as the caller's step does (in fp32, or inside its bf16 autocast).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from transmem.models.network import NetConfig, PredictiveNet

LUMA = (0.299, 0.587, 0.114)


def default_layer_map(target_layers: int, source_layers: int) -> dict[int, int]:
    if target_layers == source_layers or target_layers == 1:
        return {k: min(k, source_layers - 1) for k in range(target_layers)}
    return {k: round(k * (source_layers - 1) / (target_layers - 1)) for k in range(target_layers)}


def adapt_frames(frames: torch.Tensor, source: NetConfig) -> torch.Tensor:
    """Target frames (B, T, C, H, W) -> the channels and frame size the source was trained on."""
    return convert_frames(frames, channels=source.frame_channels, size=source.frame_size)


def convert_frames(frames: torch.Tensor, *, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """Frames (B, T, C, H, W) -> (B, T, channels, *size): grey <-> RGB (luma weights / repeated), resized (area
    when shrinking, bilinear when growing)."""
    b, t, c, h, w = frames.shape
    if c != channels:
        if c == 3 and channels == 1:
            weights = torch.tensor(LUMA, dtype=frames.dtype, device=frames.device).view(1, 1, 3, 1, 1)
            frames = (frames * weights).sum(dim=2, keepdim=True)
        elif c == 1 and channels == 3:
            frames = frames.expand(b, t, 3, h, w)
        else:
            raise ValueError(f"cannot adapt {c}-channel frames to {channels} channels")
    size = tuple(size)
    if (h, w) != size:
        flat = frames.reshape(b * t, frames.shape[2], h, w)
        mode = "area" if size[0] <= h else "bilinear"
        flat = F.interpolate(flat, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))
        frames = flat.reshape(b, t, *flat.shape[1:])
    return frames


class MemoryBank(nn.Module):
    def __init__(
        self,
        sources: Sequence[PredictiveNet],
        *,
        target: NetConfig,
        names: Sequence[str] | None = None,
        layer_maps: Sequence[Mapping[int, int]] | None = None,
        batch_sources: bool = False,
    ):
        super().__init__()
        self.batch_sources = batch_sources
        self.precision = "fp32"  # "bf16": the sources' rollout under bf16 autocast (see the module docstring)
        if len(sources) != target.n_sources:
            raise ValueError(
                f"the target has {target.n_sources} transfer gate(s) per TMU layer but {len(sources)} source(s) were "
                f"given; build the target with n_sources={len(sources)}"
            )
        self.target = target
        self.sources = nn.ModuleList(sources)
        self.names = list(names) if names is not None else [f"source{m}" for m in range(len(sources))]
        for source in self.sources:
            source.requires_grad_(False)
            source.eval()
        self.layer_maps: list[dict[int, int]] = []
        for m, source in enumerate(self.sources):
            given = dict(layer_maps[m]) if layer_maps is not None else None
            lmap = given or default_layer_map(len(target.hidden), len(source.config.hidden))
            for k in target.transfer_layers:
                if k not in lmap:
                    raise ValueError(f"layer map of source '{self.names[m]}' has no entry for TMU layer {k}")
                check_alignment(self.names[m], source.config, lmap[k], target, k)
            self.layer_maps.append({k: lmap[k] for k in target.transfer_layers})

    def train(self, mode: bool = True) -> "MemoryBank":
        super().train(mode)
        for source in self.sources:
            source.eval()  # frozen: always in eval mode
        return self

    @torch.no_grad()
    def collect(self, frames: torch.Tensor, *, t_in: int, mask: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        """TMU layer k -> source memories (B, T-1, M, C, h, w) for the clip (B, T, C, H, W)."""
        return self._collect(frames, t_in=t_in, mask=mask, frame_errors=False)[0]

    @torch.no_grad()
    def collect_with_errors(self, frames: torch.Tensor, *, t_in: int, mask: torch.Tensor | None = None):
        """The memories of `collect`, and each source's next-frame squared error per step (B, T-1, M): the mean
        over its own (adapted) frame of its prediction against the true frame."""
        return self._collect(frames, t_in=t_in, mask=mask, frame_errors=True)

    def _collect(self, frames, *, t_in, mask, frame_errors: bool):
        b, t = frames.shape[:2]
        h, w = self.target.state_size
        bank = {
            k: frames.new_empty(b, t - 1, len(self.sources), self.target.hidden[k], h, w)
            for k in self.target.transfer_layers
        }
        errors = frames.new_empty(b, t - 1, len(self.sources)) if frame_errors else None
        adapted: dict[tuple, torch.Tensor] = {}
        for group in self.run_groups():
            first = self.sources[group[0][0]]
            key = (first.config.frame_channels, first.config.frame_size)
            if key not in adapted:
                adapted[key] = adapt_frames(frames, first.config)
            needed = list(self.needed_layers(group))
            latent = {"latent": "posterior-mean"} if first.stochastic else {}  # see the module docstring
            low = torch.autocast(frames.device.type, dtype=torch.bfloat16) if self.precision == "bf16" else None
            with torch.inference_mode(), low or nullcontext():
                if len(group) == 1:
                    rollout = first(adapted[key], t_in=t_in, mask=mask, memory_layers=needed, **latent)
                    out = [(rollout.memories, rollout.frames)]
                else:
                    out = self._batched(group, adapted[key], t_in=t_in, mask=mask, needed=needed, latent=latent)
            for (memories, predicted), copies in zip(out, group):  # one run, written to every slot naming it
                error = (predicted - adapted[key][:, 1:]).pow(2).mean(dim=(2, 3, 4)) if frame_errors else None
                for m in copies:
                    for k, j in self.layer_maps[m].items():
                        bank[k][:, :, m].copy_(memories[j])
                    if error is not None:
                        errors[:, :, m].copy_(error)
        return bank, errors

    def run_groups(self) -> list[list[list[int]]]:
        """How collect runs the sources: a list of groups run together (one rollout, vmapped when a group has
        several members); a member lists the bank slots m that name one module, which runs once for all of them."""
        members: list[list[int]] = []
        for m, source in enumerate(self.sources):
            for member in members:
                if self.sources[member[0]] is source:
                    member.append(m)
                    break
            else:
                members.append([m])
        if not self.batch_sources:
            return [[member] for member in members]
        groups: list[list[list[int]]] = []
        by_arch: dict[tuple, list[list[int]]] = {}
        for member in members:
            key = (self.sources[member[0]].config, self.needed_layers([member]))
            if key not in by_arch:
                by_arch[key] = []
                groups.append(by_arch[key])
            by_arch[key].append(member)
        return groups

    def needed_layers(self, group: list[list[int]]) -> tuple[int, ...]:
        """The source layers whose memories the slots of a group read."""
        return tuple(sorted({j for member in group for m in member for j in self.layer_maps[m].values()}))

    def _batched(self, group, frames, *, t_in, mask, needed,
                 latent) -> list[tuple[dict[int, torch.Tensor], torch.Tensor]]:
        """One rollout vmapped over the stacked weights of sources that share an architecture: per source, its
        memories and its predicted frames."""
        from torch.func import functional_call, stack_module_state

        nets = [self.sources[member[0]] for member in group]
        params, buffers = stack_module_state(nets)
        base = nets[0]

        def one(p, bf):
            out = functional_call(base, (p, bf), (frames,), {"t_in": t_in, "mask": mask, "memory_layers": needed,
                                                             **latent})
            return out.memories, out.frames

        memories, predicted = torch.vmap(one)(params, buffers)
        return [({j: v[g] for j, v in memories.items()}, predicted[g]) for g in range(len(nets))]


def check_alignment(name: str, source: NetConfig, source_layer: int, target: NetConfig, target_layer: int) -> None:
    """One clear error when a source memory cannot be matched to a TMU layer's distilled memory."""
    if not 0 <= source_layer < len(source.hidden):
        raise ValueError(
            f"source '{name}' has {len(source.hidden)} layers; the layer map sends target layer {target_layer} "
            f"to its layer {source_layer}"
        )
    src = (source.hidden[source_layer], *source.state_size)
    tgt = (target.hidden[target_layer], *target.state_size)
    if src == tgt:
        return
    fixes = []
    if src[1:] != tgt[1:]:
        sh, th = source.frame_size[0], target.frame_size[0]
        if sh % tgt[1] == 0:
            fixes.append(f"train the source with patch_size={sh // tgt[1]} on its {sh}-pixel frames")
        if th % src[1] == 0:
            fixes.append(f"or build the target with patch_size={th // src[1]}")
        if not fixes:
            fixes.append("give source and target frame sizes and patch sizes with equal quotients")
    if src[0] != tgt[0]:
        widths = [j for j, h in enumerate(source.hidden) if h == tgt[0]]
        hint = f"map it to source layer {widths[0]} (layer_map)" if widths else f"train the source with {tgt[0]} hidden channels"
        fixes.append(f"{hint}, or give target layer {target_layer} {src[0]} hidden channels")
    raise ValueError(
        f"source '{name}' layer {source_layer} memory is {src} (C, H, W) but target TMU layer {target_layer} is {tgt}: "
        + "; ".join(fixes)
    )
