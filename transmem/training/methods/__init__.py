"""Training methods, registered in transmem.registry.METHODS. Add new method modules to the imports below."""
from transmem.training.methods import art, base, finetune, knowledge_flow, l2sp, memory_transfer  # noqa: F401
from transmem.training.methods.base import Method

__all__ = ["Method"]
