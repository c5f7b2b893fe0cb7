"""The radar benchmark's shared conventions (paper section 4.3): 10 -> 10 frames at 6-minute steps, and the
pixel <-> reflectivity mappings, dBZ = scale * p + offset for a frame value p on [0, 1]."""
from __future__ import annotations

import numpy as np

HKO7 = {"scale": 70.0, "offset": -10.0}
CIKM = {"scale": 95.0, "offset": -10.0}
STEP_MIN = 6.0
THRESHOLDS = (20.0, 30.0, 40.0)  # dBZ: the paper's CSI at 20, with 30 and 40 (heavier rain) beside it
SEQ_LEN, T_IN = 20, 10


def dbz_to_unit(dbz: np.ndarray, scale: float = HKO7["scale"], offset: float = HKO7["offset"]) -> np.ndarray:
    """dBZ -> p on [0, 1] (clipped), the inverse of ``dbz = scale * p + offset``."""
    return np.clip((np.asarray(dbz, dtype=np.float64) - offset) / scale, 0.0, 1.0)


def unit_to_dbz(p: np.ndarray, scale: float = HKO7["scale"], offset: float = HKO7["offset"]) -> np.ndarray:
    """p on [0, 1] -> dBZ = scale * p + offset."""
    return np.asarray(p, dtype=np.float64) * scale + offset
