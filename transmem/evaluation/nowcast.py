"""The nowcasting baselines a learned model should beat, with the predictor interface (`predict(frames,
horizon=...)`) so that `evaluate_model` scores them as it scores a network:

- `persistence`: the last input frame, unchanged, at every lead time (Eulerian persistence);
- `extrapolation`: Lagrangian persistence through pysteps: Lucas-Kanade motion on the last input frames, then the
  last frame advected over the horizon.

Clips are the library's (B, T, C, H, W) tensors on [0, 1]; the field is advected in that normalised unit (a
linear map of dBZ, so the advection is the same as in dBZ). pysteps' extrapolation leaves NaN where no rain was
advected in (outside the domain): those pixels are filled with 0, no rain."""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import torch

INSTALL_HINT = "the extrapolation baseline needs pysteps: pip install transmem[radar]"


def _pysteps():
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pysteps prints its config path on import
            from pysteps import motion, nowcasts
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return motion, nowcasts


class PersistenceBaseline(torch.nn.Module):
    """The last input frame at every lead time. No weights."""

    def predict(self, frames: torch.Tensor, *, horizon: int) -> torch.Tensor:
        return frames[:, -1:].expand(-1, horizon, *frames.shape[2:]).clone()


class ExtrapolationBaseline(torch.nn.Module):
    """Lagrangian persistence with the predictor interface (`predict(frames, horizon=...)`), so `evaluate_model`
    scores it as it scores a network. No weights: `eval()` and `to()` do nothing."""

    def __init__(self, *, n_motion: int = 3):
        super().__init__()
        motion, nowcasts = _pysteps()
        self.lk, self.extrapolate = motion.get_method("LK"), nowcasts.get_method("extrapolation")
        self.n_motion = max(n_motion, 2)

    def predict(self, frames: torch.Tensor, *, horizon: int) -> torch.Tensor:
        """(B, T_in, C, H, W) on [0, 1] -> (B, horizon, C, H, W): each field advected on its own."""
        x = frames.detach().cpu().numpy().astype(np.float64)
        out = np.zeros((x.shape[0], horizon, *x.shape[2:]))
        for b in range(x.shape[0]):
            for c in range(x.shape[2]):
                fields = x[b, -self.n_motion:, c]
                with warnings.catch_warnings():  # LK's outlier filter warns on few tracked features
                    warnings.simplefilter("ignore", RuntimeWarning)
                    velocity = self.lk(fields, verbose=False)
                out[b, :, c] = np.nan_to_num(self.extrapolate(fields[-1], velocity, horizon), nan=0.0)
        return torch.from_numpy(out).float().clamp(0, 1)


BASELINES = {"persistence": PersistenceBaseline, "extrapolation": ExtrapolationBaseline}  # `evaluate --baseline`
