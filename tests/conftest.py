import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _no_native_bf16(monkeypatch):
    """`precision: auto` means fp32 in tests, as on a CPU without native bf16: a timing probe must not decide the
    numbers of tests that compare runs. tests/test_precision.py turns the probe back on where it tests it."""
    monkeypatch.setattr("transmem.training.precision.cpu_flags", lambda: ())
