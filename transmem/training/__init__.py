"""Training: the objective, the configuration, the trainer and the transfer methods (registered in METHODS)."""
from transmem.training import methods  # noqa: F401  (registers the methods)
