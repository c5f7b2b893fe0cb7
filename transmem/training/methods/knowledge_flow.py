"""Knowledge Flow (Liu, Peng & Schwing, ICLR 2019, "Knowledge flow: Improve upon your teachers"): a student learns
with M frozen teachers whose intermediate representations flow into its own layers through trainable
transformations, and a curriculum weans it off them so that at test time it runs alone.

The paper's layer combination, for student layer l and teacher m (teacher layer l' = l's matched layer):

    h'_l = w_{l,0} h_l + sum_m w_{l,m} Q_{l,m}(h^m_{l'}),    w_l = softmax(v_l) over (student, teacher 1..M)

(weights non-negative and summing to one per layer, as the paper normalises them), and its objective

    L = L_task(student + teachers) + lambda_1 * L_dep(w) + lambda_2 * L_KL

with L_dep pushing the teachers' weights to zero, lambda_1 growing over training (the teachers are gradually
dropped), and L_KL a KL divergence between the output of the student with the teachers and its output without
them, so that removing the teachers does not change its behaviour abruptly.

Spatiotemporal version implemented here:
- the representations are the recurrent hidden states: at every layer l and time step t the student's H_{l,t} is
  replaced (through PredictiveNet's `hidden_hook`, before it goes up a layer and on to step t+1) by
      H'_{l,t} = w_{l,0} H_{l,t} + sum_m w_{l,m} Q_{l,m}(H^m_{l',t})
  where H^m_{l',t} is teacher m's hidden state at step t of its own rollout on the same clip (frames adapted to
  the teacher with `adapt_frames`, the same scheduled-sampling mask, run under no_grad in eval mode, feeding back
  its own predictions where the mask hides the truth, as the memory bank does), Q_{l,m} a trainable 1x1
  convolution from the teacher's to the student's channels, and w_l = softmax of trainable logits v_l (M+1 per
  layer, initialised to zero: uniform weights). l' comes from `default_layer_map` (same layer when depths agree);
  the teacher's state grid must equal the student's (a clear error says which patch size would align them);
- L_dep = sum_l sum_m w_{l,m} (the total teacher weight, in [0, K] for K layers), weighted by
  lambda_1(p) = lambda_dependency * p, rising linearly with the training progress p in [0, 1];
- the KL term is adapted to regression as the mean squared error, per pixel, between the student's predictions
  with the teachers and its predictions without them (a second student rollout with the same mask); gradient flows
  through both, so it both trains the student-only path and draws the combined path towards it:
      L = L_frame(with teachers) + lambda_dependency * p * L_dep + lambda_consistency * MSE(with, without)
- the student starts from random initialisation (as in the paper); at test time it runs alone: `predictor()`
  returns the student network, whose `predict` never calls the hook.

Training progress: the trainer must call `set_progress(fraction)` (fraction of training done, 0..1) before each
step; the base Method has no such hook, so this class adds it. Without a call the progress stays 0 (no dependency
penalty at all) and the first training step warns.

Defaults (not tuned): lambda_dependency = 0.01 and lambda_consistency = 1.0.
- lambda_dependency: measured once on the paper's configuration (64x64, patch 4, 4x64 ConvLSTM, two random-init
  teachers, sparse Moving-MNIST-like frames), the frame loss's gradients on the logits v were 1e-7 to 7e-4 (largest
  at the top layer), while the penalty's gradient on a teacher's logit is lambda_1 * w_{l,m} * (1 - sum_m w_{l,m})
  (about 0.22 * lambda_1 at the uniform start with M = 2). With lambda_dependency = 0.01 it is below 1e-3 in the
  first half of training, comparable with the frame loss, so a useful teacher keeps its weight, and about 2e-3 by
  the end, where it dominates (with Adam a dominating gradient moves a logit by about the learning rate per step)
  and the teachers are weaned. In loss units: at the end, a teacher weight of 0.6 per layer over 4 layers costs
  0.024, a typical per-pixel frame MSE on flying digits (~100 per 4096-pixel frame). Softmax weights never reach
  exactly zero; the student-only path is what the consistency term trains.
- lambda_consistency: the consistency MSE is in the frame loss's own units (per-pixel squared error between two
  predictions), so weight 1 trains the student-only path as hard as the frame loss trains the combined one.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from transmem.models.memory_bank import adapt_frames, default_layer_map
from transmem.models.network import NetConfig, PredictiveNet
from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.methods.base import Method
from transmem.training.objective import frame_loss


def check_grid(what: str, name: str, source: NetConfig, source_layer: int, target: NetConfig, target_layer: int) -> None:
    """A teacher's hidden state can feed a student layer through a 1x1 convolution when their grids agree."""
    if not 0 <= source_layer < len(source.hidden):
        raise ValueError(
            f"{what}: teacher '{name}' has {len(source.hidden)} layers; student layer {target_layer} is mapped to its "
            f"layer {source_layer}"
        )
    if source.state_size == target.state_size:
        return
    fixes = []
    sh, th = source.frame_size[0], target.frame_size[0]
    if sh % target.state_size[0] == 0:
        fixes.append(f"train the teacher with patch_size={sh // target.state_size[0]} on its {sh}-pixel frames")
    if th % source.state_size[0] == 0:
        fixes.append(f"build the student with patch_size={th // source.state_size[0]}")
    if not fixes:
        fixes.append("give teacher and student frame sizes and patch sizes with equal quotients")
    raise ValueError(
        f"{what}: teacher '{name}' layer {source_layer} hidden state is {source.hidden[source_layer]}x"
        f"{source.state_size[0]}x{source.state_size[1]} but student layer {target_layer} is "
        f"{target.hidden[target_layer]}x{target.state_size[0]}x{target.state_size[1]} (C x H x W); the 1x1 "
        "adapters match channels, not grid sizes: " + " or ".join(fixes)
    )


class Teachers(nn.Module):
    """M frozen source networks run on the student's clip; they expose their hidden states per student layer."""

    def __init__(self, sources: Sequence[Source], target: NetConfig, *, what: str):
        super().__init__()
        self.names = [s.name for s in sources]
        self.nets = nn.ModuleList([s.net for s in sources])
        self.layer_maps: list[dict[int, int]] = []
        for name, net in zip(self.names, self.nets):
            net.requires_grad_(False)
            net.eval()
            lmap = default_layer_map(len(target.hidden), len(net.config.hidden))
            for k in range(len(target.hidden)):
                check_grid(what, name, net.config, lmap[k], target, k)
            self.layer_maps.append(lmap)

    def __len__(self) -> int:
        return len(self.nets)

    def channels(self, m: int, layer: int) -> int:
        """Hidden channels of teacher m's layer that feeds student layer `layer`."""
        return self.nets[m].config.hidden[self.layer_maps[m][layer]]

    def train(self, mode: bool = True) -> "Teachers":
        super().train(mode)
        for net in self.nets:
            net.eval()  # frozen: always in eval mode
        return self

    @torch.no_grad()
    def hiddens(self, frames: torch.Tensor, *, t_in: int, mask: torch.Tensor | None) -> list[dict[int, torch.Tensor]]:
        """Per teacher: student layer -> the teacher's hidden states (B, T-1, C_m, h, w) on the clip (B, T, C, H, W).
        mask None is the test-time schedule (true frames for t_in steps, then the teacher's own predictions).
        A stochastic teacher (savp) runs with its means, never sampling: with its posterior's in training (mask
        given, the clip is known), with its prior's after the input steps at test time (mask None)."""
        result = []
        for net, lmap in zip(self.nets, self.layer_maps):
            latent = {"latent": "posterior-mean" if mask is not None else "prior-mean"} if net.stochastic else {}
            out = net(adapt_frames(frames, net.config), t_in=t_in, mask=mask, hidden_layers=sorted(set(lmap.values())),
                      **latent)
            result.append({k: out.hiddens[j] for k, j in lmap.items()})
        return result


@METHODS.register("knowledge-flow", "student fed by M frozen teachers' hidden states, weaned off them (Liu et al., 2019)")
class KnowledgeFlow(Method):
    min_sources, max_sources = 1, None
    option_names = ("lambda_dependency", "lambda_consistency")

    def __init__(self, *, config, frame_channels, frame_size, sources: list[Source]):
        super().__init__(config=config, frame_channels=frame_channels, frame_size=frame_size, sources=sources)
        self.lambda_dependency = float(self.option("lambda_dependency", 0.01))
        self.lambda_consistency = float(self.option("lambda_consistency", 1.0))
        if self.lambda_dependency < 0 or self.lambda_consistency < 0:
            raise ValueError(
                f"knowledge-flow: lambda_dependency ({self.lambda_dependency}) and lambda_consistency "
                f"({self.lambda_consistency}) must be >= 0"
            )
        target = self.net.config
        self.teachers = Teachers(sources, target, what="knowledge-flow")
        layers = len(target.hidden)
        # Q_{l,m}: teacher m's channels -> student layer l's channels.
        self.adapters = nn.ModuleList(
            nn.ModuleList(
                nn.Conv2d(self.teachers.channels(m, k), target.hidden[k], kernel_size=1) for m in range(len(sources))
            )
            for k in range(layers)
        )
        # v_l: logits of (student, teacher 1..M) per layer; zeros = uniform weights 1/(M+1) at the start.
        self.logits = nn.Parameter(torch.zeros(layers, len(sources) + 1))
        self.progress = 0.0
        self._progress_given = False

    # -- curriculum -------------------------------------------------------------------------------------------
    def set_progress(self, fraction: float) -> None:
        """The share of training done (0 at the first step, 1 at the last); the trainer calls it before each step.
        It sets the dependency coefficient lambda_1 = lambda_dependency * fraction."""
        self.progress = min(max(float(fraction), 0.0), 1.0)
        self._progress_given = True

    def dependency_coefficient(self) -> float:
        return self.lambda_dependency * self.progress

    def weights(self) -> torch.Tensor:
        """w: (layers, 1 + M), softmax over (student, teachers) per layer; column 0 is the student."""
        return torch.softmax(self.logits, dim=1)

    # -- training ---------------------------------------------------------------------------------------------
    def forward(self, frames: torch.Tensor, *, mask: torch.Tensor, t_in: int):
        if self.training and not self._progress_given:
            warnings.warn(
                "knowledge-flow: set_progress() was never called, so the dependency penalty stays at 0 and the "
                "teachers are never weaned; call method.set_progress(step / iterations) before each step",
                stacklevel=2,
            )
            self._progress_given = True  # warn once
        teacher_h = self.teachers.hiddens(frames, t_in=t_in, mask=mask)
        w = self.weights()

        def hook(layer: int, t: int, h: torch.Tensor) -> torch.Tensor:
            mixed = w[layer, 0] * h
            for m, adapter in enumerate(self.adapters[layer]):
                mixed = mixed + w[layer, m + 1] * adapter(teacher_h[m][layer][:, t].to(h.dtype))
            return mixed

        # a stochastic student draws the same noise in both rollouts, so the consistency term compares the paths,
        # not two samples
        seed = int(torch.randint(2**62, ())) if self.net.stochastic else None

        def noise() -> dict:
            return {} if seed is None else {"generator": torch.Generator(frames.device).manual_seed(seed)}

        out = self.net(frames, t_in=t_in, mask=mask, hidden_hook=hook, **noise())
        truth = frames[:, 1:]
        frame = frame_loss(out.frames, truth)
        dependency = w[:, 1:].sum()
        loss = frame + self.dependency_coefficient() * dependency
        parts = {"frame": float(frame.detach()), "dependency": float(dependency.detach())}
        if self.lambda_consistency != 0.0:
            alone = self.net(frames, t_in=t_in, mask=mask, **noise())
            consistency = F.mse_loss(out.frames, alone.frames)
            loss = loss + self.lambda_consistency * consistency
            parts["consistency"] = float(consistency.detach())
            parts["frame_alone"] = float(frame_loss(alone.frames.detach(), truth))
        parts["teacher_weight"] = float(w[:, 1:].sum(dim=1).mean().detach())
        parts["total"] = float(loss.detach())
        return self.with_stochastic_terms(loss, parts, out, truth)

    def predictor(self) -> nn.Module:
        """The student alone (teachers dropped, as in the paper)."""
        return self.net
