"""transmem: transferable memory for spatiotemporal predictive networks."""
from transmem.registry import BACKBONES, DATASETS, METHODS

__version__ = "0.1.0"
__all__ = ["BACKBONES", "DATASETS", "METHODS", "__version__"]
