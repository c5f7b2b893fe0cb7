"""Models: recurrent cells, the predictive network, the TMU and the memory bank."""
from transmem.models import backbones  # noqa: F401  (registers the backbones)
from transmem.models.memory_bank import MemoryBank, adapt_frames
from transmem.models.network import NetConfig, PredictiveNet, Rollout, count_parameters, default_mask
from transmem.models.tmu import TransferableMemory

__all__ = [
    "MemoryBank",
    "NetConfig",
    "PredictiveNet",
    "Rollout",
    "TransferableMemory",
    "adapt_frames",
    "count_parameters",
    "default_mask",
]
