"""Evaluation: scoring a model on a dataset split with the field's metrics."""
from transmem.evaluation.evaluate import evaluate_model

__all__ = ["evaluate_model"]
