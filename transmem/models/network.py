"""The predictive network: frame sub-scaling, K stacked recurrent layers (plain or TMU), an output head, and a
rollout over input and output steps with a per-sample scheduled-sampling mask.

At step t the network reads frame t (the true frame, or its own previous prediction where the mask says so) and
predicts frame t+1, so a clip of T frames gives T-1 predictions; the frame loss covers all of them (paper Eq. 6,
t = 2..T). The sources never enter here: a TMU layer's forward pass needs only the target's own states, and the
memory bank's states are used by the loss alone, so at test time the target runs with no source at all.

A stochastic backbone (savp, models/savp.py) also draws a latent map z_t at every step from its posterior or its
prior (`latent`: which, and whether sampled or the mean; `generator`: the noise source, for reproducible samples)
and concatenates it to the step's input; a deterministic backbone refuses both arguments.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import torch
from einops import rearrange
from torch import nn

from transmem.models.backbones import Backbone
from transmem.models.cells.base import CellSpec
from transmem.models.savp import LATENT_MODES, LatentModel, Latents
from transmem.models.tmu import COMBINES
from transmem.registry import BACKBONES, check_choice


@dataclass(frozen=True)
class NetConfig:
    backbone: str = "convlstm"
    frame_channels: int = 1
    frame_size: tuple[int, int] = (64, 64)
    patch_size: int = 4
    hidden: tuple[int, ...] = (64, 64, 64, 64)
    kernel_size: int = 5
    peepholes: bool = False
    n_sources: int = 0  # M: the number of memory distillers and transfer gates in each TMU layer
    tmu_layers: tuple[int, ...] | None = None  # None: every layer (the paper), or layer 0 alone when released
    released: bool = False  # the authors' released TMU cell instead of the paper's
    # how a TMU forms C_t: "paper" (Eq. 5 as written, which can grow the memory at every step) or "convex" (a
    # convex combination of C~ and the distilled memories, beyond the paper; models/tmu.py)
    tmu_combine: str = "paper"
    # layers whose gate convolution is followed by a LayerNorm, as in the released TMU cell (which has it in its
    # TMU layer whatever this says); true: every layer. Normalised to a tuple of layer indices
    gate_norm: bool | tuple[int, ...] = ()
    # a stochastic backbone's latent map: Z channels (default 8) and the width of its posterior and prior networks
    # (default 32); None for a deterministic backbone, which refuses them
    latent_channels: int | None = None
    latent_hidden: int | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass normalisation)
        set_("frame_size", tuple(int(s) for s in self.frame_size))
        set_("hidden", tuple(int(h) for h in self.hidden))
        backbone: Backbone = BACKBONES.get(self.backbone)
        if len(self.frame_size) != 2 or any(s % self.patch_size for s in self.frame_size):
            raise ValueError(
                f"frame size {self.frame_size} is not divisible by patch size {self.patch_size}; "
                "choose a patch size that divides both sides"
            )
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list one positive width per layer, got {self.hidden}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so states keep their size, got {self.kernel_size}")
        # on a state of side S (frame side / patch) a kernel wider than 2S - 1 only adds weights that multiply the
        # zero padding, and a huge one would try to allocate terabytes before any other check
        widest = 2 * max(self.frame_size) // self.patch_size - 1
        if self.kernel_size > widest:
            raise ValueError(f"kernel_size {self.kernel_size} is wider than the {self.frame_size[0] // self.patch_size}x"
                             f"{self.frame_size[1] // self.patch_size} state it slides over: use at most {widest}")
        if self.peepholes and not backbone.peepholes:
            raise ValueError(f"backbone '{self.backbone}' has no peephole connections; drop peepholes")
        if self.n_sources < 0:
            raise ValueError(f"n_sources must be >= 0, got {self.n_sources}")
        check_choice("tmu_combine", self.tmu_combine, COMBINES)
        if self.released and self.n_sources == 0:
            raise ValueError("released=True describes a TMU: give n_sources >= 1")
        if self.tmu_layers is not None:
            layers = tuple(sorted(set(int(k) for k in self.tmu_layers)))
            if self.n_sources == 0:
                raise ValueError("tmu_layers needs n_sources >= 1")
            if not layers or layers[0] < 0 or layers[-1] >= len(self.hidden):
                raise ValueError(f"tmu_layers {self.tmu_layers} must name layers in 0..{len(self.hidden) - 1}")
            set_("tmu_layers", layers)
        if isinstance(self.gate_norm, bool):
            set_("gate_norm", tuple(range(len(self.hidden))) if self.gate_norm else ())
        else:
            norm = tuple(sorted(set(int(k) for k in self.gate_norm)))
            if norm and (norm[0] < 0 or norm[-1] >= len(self.hidden)):
                raise ValueError(f"gate_norm layers {list(self.gate_norm)} must be in 0..{len(self.hidden) - 1}")
            set_("gate_norm", norm)
        if self.backbone == "mim" and len(set(self.hidden)) > 1:
            raise ValueError("MIM blocks difference the hidden state of the layer below: give all layers one width")
        if backbone.stochastic:
            for key, default in (("latent_channels", 8), ("latent_hidden", 32)):
                value = default if getattr(self, key) is None else int(getattr(self, key))
                if value < 1:
                    raise ValueError(f"{key} must be >= 1, got {value}")
                set_(key, value)
        elif self.latent_channels is not None or self.latent_hidden is not None:
            raise ValueError(f"backbone '{self.backbone}' is deterministic and has no latent: drop latent_channels "
                             "and latent_hidden (they size the savp backbone's latent)")

    @property
    def patch_channels(self) -> int:
        return self.frame_channels * self.patch_size**2

    @property
    def state_size(self) -> tuple[int, int]:
        return (self.frame_size[0] // self.patch_size, self.frame_size[1] // self.patch_size)

    @property
    def transfer_layers(self) -> tuple[int, ...]:
        """The layers that are TMUs."""
        if self.n_sources == 0:
            return ()
        if self.tmu_layers is not None:
            return self.tmu_layers
        return (0,) if self.released else tuple(range(len(self.hidden)))

    def replace(self, **changes: Any) -> "NetConfig":
        return NetConfig(**{**asdict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain lists and numbers; a deterministic backbone's (None) latent sizes are left out, so its
        checkpoints describe it as before the savp backbone existed."""
        d = asdict(self)
        if self.latent_channels is None and self.latent_hidden is None:
            d.pop("latent_channels"), d.pop("latent_hidden")
        if self.tmu_combine == "paper":  # so a checkpoint of Eq. 5 is described as before the option existed
            d.pop("tmu_combine")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown network setting(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


class StepStacks(Mapping[int, torch.Tensor]):
    """layer -> the per-step tensors stacked along dim 1, stacked only when read. The distillation loss reads the
    steps (`steps(k)`) instead: stacking copies every M-fold distilled memory once more, and a loss over the
    stacked (B, S, M, C, h, w) tensor allocates temporaries that size (docs/performance.md)."""

    def __init__(self, steps: dict[int, list[torch.Tensor]]):
        self._steps, self._stacked = steps, {}

    def steps(self, layer: int) -> list[torch.Tensor]:
        return self._steps[layer]

    def __getitem__(self, layer: int) -> torch.Tensor:
        if layer not in self._stacked:
            self._stacked[layer] = torch.stack(self._steps[layer], dim=1)
        return self._stacked[layer]

    def __iter__(self):
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


class Rollout(NamedTuple):
    frames: torch.Tensor  # (B, S, C, H, W): predictions of frames 1..S
    distilled: StepStacks  # TMU layer -> (B, S, M, C, h, w), the memories matched to the sources
    gate_maps: dict[int, torch.Tensor]  # TMU layer -> (B, S, M, h, w), transfer gates averaged over channels
    memories: dict[int, torch.Tensor]  # requested layer -> (B, S, C, h, w), the memory C_t after each step
    hiddens: dict[int, torch.Tensor]  # requested layer -> (B, S, C, h, w), the hidden state H_t after each step
    latents: Latents | None = None  # stochastic backbone: the posterior and prior of the posterior steps (KL term)


# hidden_hook(layer, t, H_t) -> H_t': lets a transfer method (Knowledge Flow, ART) change a layer's hidden state
# before it goes up to the next layer and on to the next step.
HiddenHook = Callable[[int, int, torch.Tensor], torch.Tensor]


class PredictiveNet(nn.Module):
    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        backbone: Backbone = BACKBONES.get(config.backbone)
        self.zigzag = backbone.zigzag
        hidden, tmu = config.hidden, set(config.transfer_layers)
        z = config.latent_channels or 0
        self.latent = (
            LatentModel(in_channels=config.patch_channels, channels=z, hidden=config.latent_hidden,
                        kernel_size=config.kernel_size, state_size=config.state_size)
            if backbone.stochastic
            else None
        )
        cells = []
        for layer, width in enumerate(hidden):
            spec = CellSpec(
                in_channels=config.patch_channels + z if layer == 0 else hidden[layer - 1],
                hidden=width,
                kernel_size=config.kernel_size,
                state_size=config.state_size,
                n_sources=config.n_sources if layer in tmu else 0,
                released=config.released,
                tmu_combine=config.tmu_combine,
                gate_norm=layer in config.gate_norm,
                zigzag_channels=hidden[layer - 1] if backbone.zigzag else 0,  # layer 0 reads the top layer's M
                peepholes=config.peepholes,
            )
            cells.append(backbone.make_cell(layer, spec))
        self.cells = nn.ModuleList(cells)
        self.head = nn.Conv2d(hidden[-1], config.patch_channels, kernel_size=1, bias=False)

    @property
    def stochastic(self) -> bool:
        """Whether the network draws a latent (then `latent` and `generator` choose and seed the draws)."""
        return self.latent is not None

    def _latent_mode(self, latent: str | None, generator: torch.Generator | None, default: str) -> str | None:
        if self.latent is None:
            if latent is not None or generator is not None:
                raise ValueError(f"backbone '{self.config.backbone}' is deterministic: it has no latent to choose "
                                 "or seed; drop latent and generator")
            return None
        latent = default if latent is None else latent
        check_choice("latent", latent, LATENT_MODES)
        return latent

    # -- frame sub-scaling (space-to-depth) -------------------------------------------------------------------
    def to_patches(self, frames: torch.Tensor) -> torch.Tensor:
        p = self.config.patch_size
        return rearrange(frames, "b t c (h p) (w q) -> b t (c p q) h w", p=p, q=p)

    def from_patches(self, patches: torch.Tensor) -> torch.Tensor:
        p = self.config.patch_size
        return rearrange(patches, "b t (c p q) h w -> b t c (h p) (w q)", p=p, q=p)

    def check_frames(self, frames: torch.Tensor) -> None:
        c = self.config
        expected = (c.frame_channels, *c.frame_size)
        if frames.ndim != 5 or tuple(frames.shape[2:]) != expected:
            raise ValueError(
                f"frames have shape {tuple(frames.shape)} but this model takes (B, T, {expected[0]}, {expected[1]}, "
                f"{expected[2]}); resize the frames or build the model with frame_channels/frame_size to match"
            )
        if not torch.isfinite(frames).all():
            raise ValueError("frames contain NaN or infinite values; clean the data before training or prediction")

    # -- rollout ----------------------------------------------------------------------------------------------
    def forward(
        self,
        frames: torch.Tensor,
        *,
        t_in: int,
        mask: torch.Tensor | None = None,
        memory_layers: Sequence[int] = (),
        hidden_layers: Sequence[int] = (),
        hidden_hook: HiddenHook | None = None,
        latent: str | None = None,
        generator: torch.Generator | None = None,
    ) -> Rollout:
        """Predict frames 1..T-1 of a clip (B, T, C, H, W).

        mask: (B, T-2), the weight of the true frame as the input of steps 1..T-2 (1 = ground truth, 0 = the
        network's own previous prediction; fractional values mix). None gives the test-time schedule: true frames
        for the first t_in steps, predictions after.
        latent (stochastic backbone): one of LATENT_MODES, default "posterior" (training); the prior modes read the
        posterior on the first t_in - 1 steps only. generator: the noise of the sampled modes (None: torch's own).
        """
        latent = self._latent_mode(latent, generator, "posterior")
        self.check_frames(frames)
        b, t = frames.shape[:2]
        if not 1 <= t_in <= t - 1:
            raise ValueError(f"t_in={t_in} must leave at least one frame to predict in a clip of {t} frames")
        if mask is None:
            mask = default_mask(b, t, t_in, device=frames.device, dtype=frames.dtype)
        elif tuple(mask.shape) != (b, t - 2):
            raise ValueError(f"mask has shape {tuple(mask.shape)}; expected (batch, T-2) = ({b}, {t - 2})")
        return self.rollout(
            self.to_patches(frames),
            steps=t - 1,
            mask=mask,
            memory_layers=memory_layers,
            hidden_layers=hidden_layers,
            hidden_hook=hidden_hook,
            latent=latent,
            posterior_steps=t - 1 if latent in ("posterior", "posterior-mean") else t_in - 1,
            generator=generator,
        )

    @torch.no_grad()
    def predict(self, frames_in: torch.Tensor, horizon: int, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The next `horizon` frames after the input frames (B, T_in, C, H, W), from the model alone. A stochastic
        backbone draws one sample from its prior (the posterior reads the input frames only), with `generator`."""
        latent = self._latent_mode(None, generator, "prior")
        self.check_frames(frames_in)
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        b, t_in = frames_in.shape[:2]
        steps = t_in + horizon - 1
        mask = torch.zeros(b, max(steps - 1, 0), device=frames_in.device, dtype=frames_in.dtype)
        mask[:, : t_in - 1] = 1.0
        was_training = self.training
        self.eval()
        try:
            out = self.rollout(self.to_patches(frames_in), steps=steps, mask=mask, transfer_outputs=False,
                               latent=latent, posterior_steps=t_in - 1, generator=generator)
        finally:
            self.train(was_training)
        return out.frames[:, -horizon:]

    def rollout(
        self,
        known: torch.Tensor,
        *,
        steps: int,
        mask: torch.Tensor,
        memory_layers: Sequence[int] = (),
        hidden_layers: Sequence[int] = (),
        hidden_hook: HiddenHook | None = None,
        transfer_outputs: bool = True,
        latent: str | None = None,
        posterior_steps: int = 0,
        generator: torch.Generator | None = None,
    ) -> Rollout:
        """The time loop in patch space. known: (B, T_known, C', h, w); steps >= T_known reads predictions only.

        transfer_outputs=False leaves Rollout.distilled and .gate_maps empty (prediction needs neither).
        latent: the stochastic backbone's mode (None for a deterministic one); the first `posterior_steps` steps
        draw from the posterior, which reads known[:, t + 1]."""
        b, t_known = known.shape[:2]
        kw = dict(device=known.device, dtype=known.dtype)
        states = [cell.init_state(b, **kw) for cell in self.cells]
        draws = None
        if latent is not None:
            draws = self.latent.run(b, mode=latent, posterior_steps=posterior_steps, generator=generator, **kw)
        zigzag = (
            torch.zeros(b, self.config.hidden[-1], *self.config.state_size, **kw) if self.zigzag else None
        )
        keep_c, keep_h = set(memory_layers), set(hidden_layers)
        preds, distilled, gates = [], {}, {}
        memories, hiddens = {k: [] for k in keep_c}, {k: [] for k in keep_h}
        prediction = None
        for t in range(steps):
            if t == 0:
                x = known[:, 0]
            elif t < t_known:
                m = mask[:, t - 1].view(b, 1, 1, 1)
                x = m * known[:, t] + (1 - m) * prediction
            else:
                x = prediction
            if draws is not None:
                x = torch.cat([x, draws.step(t, x, known[:, t + 1] if t + 1 < t_known else None)], dim=1)
            for layer, cell in enumerate(self.cells):
                step = cell(x, states[layer], zigzag)
                states[layer], zigzag, x = step.state, step.zigzag, step.state["h"]
                if hidden_hook is not None:
                    x = states[layer]["h"] = hidden_hook(layer, t, x)
                if step.distilled is not None and transfer_outputs:
                    distilled.setdefault(layer, []).append(step.distilled)
                    gates.setdefault(layer, []).append(step.gates.mean(dim=2))
                if layer in keep_c:
                    memories[layer].append(step.state["c"])
                if layer in keep_h:
                    hiddens[layer].append(x)
            prediction = self.head(x)
            preds.append(prediction)
        stack = lambda d: {k: torch.stack(v, dim=1) for k, v in d.items()}  # noqa: E731
        frames = self.from_patches(torch.stack(preds, dim=1))
        latents = draws.latents() if draws is not None else None
        return Rollout(frames, StepStacks(distilled), stack(gates), stack(memories), stack(hiddens), latents)


def default_mask(batch: int, t: int, t_in: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The test-time schedule as a mask (B, T-2): true frames as inputs before t_in, predictions after."""
    mask = torch.zeros(batch, max(t - 2, 0), device=device, dtype=dtype)
    mask[:, : t_in - 1] = 1.0
    return mask


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
