"""The learning-rate schedule (hand-computed values, what the trainer really uses) and the gate-norm control."""
import csv
import math

import pytest
import torch

from transmem.models.network import NetConfig, PredictiveNet, count_parameters
from transmem.training.config import load_config
from transmem.training.lr_schedule import learning_rate
from transmem.training.trainer import Trainer

from test_training import TINY


def test_cosine_schedule_matches_hand_computed_values():
    kw = dict(lr=1e-3, iterations=110, schedule="cosine", warmup_fraction=10 / 110, lr_min=1e-5)
    assert learning_rate(0, **kw) == pytest.approx(1e-4)  # warm-up: lr * 1 / 10
    assert learning_rate(4, **kw) == pytest.approx(5e-4)
    assert learning_rate(10, **kw) == pytest.approx(1e-3)  # the peak, right after the warm-up
    assert learning_rate(60, **kw) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2)  # half-way: cos = 0
    assert learning_rate(35, **kw) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.sqrt(0.5)) / 2)
    assert learning_rate(110, **kw) == pytest.approx(1e-5)
    assert learning_rate(50, lr=2e-3, iterations=100) == 2e-3  # constant, no warm-up
    assert learning_rate(1, lr=2e-3, iterations=100, warmup_fraction=0.04) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_schedule 'step' is not one of constant, cosine"):
        learning_rate(0, lr=1e-3, iterations=10, schedule="step")


def test_the_trainer_steps_with_the_scheduled_rate(tmp_path):
    config = load_config(None, TINY + [f"out={tmp_path}", "iterations=5", "lr=0.01", "lr_schedule=cosine",
                                       "warmup_fraction=0.4", "lr_min=0.001"])
    trainer = Trainer(config, progress=False)
    seen = []
    original = trainer.optimizer.step

    def step(*a, **k):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        return original(*a, **k)

    trainer.optimizer.step = step
    trainer.run()
    # warm-up over 2 steps, then the cosine over steps 2..5 (progress 0, 1/3, 2/3; step 5 would be lr_min)
    expected = [0.005, 0.01, 0.01, 0.001 + 0.009 * 0.75, 0.001 + 0.009 * 0.25]
    assert seen == pytest.approx(expected)
    logged = [float(r["lr"]) for r in csv.DictReader(open(tmp_path / "log.csv"))]
    assert logged == pytest.approx(expected)


def test_a_bad_schedule_name_is_refused_before_any_file_is_written(tmp_path):
    with pytest.raises(ValueError, match="lr_schedule 'linear' is not one of constant, cosine"):
        load_config(None, TINY + [f"out={tmp_path / 'run'}", "lr_schedule=linear"])
    config = load_config(None, TINY + [f"out={tmp_path / 'run'}"])
    config.lr_schedule = "linear"  # set in code, past the config check: the trainer refuses it too
    with pytest.raises(ValueError, match="lr_schedule 'linear'"):
        Trainer(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_gate_norm_puts_the_released_cells_layer_norm_on_plain_layers():
    base = NetConfig(frame_size=(16, 16), patch_size=4, hidden=(8, 8), kernel_size=3)
    plain, first, every = (PredictiveNet(base.replace(gate_norm=g)) for g in (False, (0,), True))
    assert [c.gate_norm is not None for c in first.cells] == [True, False]
    assert [c.gate_norm is not None for c in every.cells] == [True, True]
    # a LayerNorm over the 4 gates x 8 channels x 4 x 4 state: a weight and a bias per element, per normed layer
    assert count_parameters(first) - count_parameters(plain) == 2 * 4 * 8 * 4 * 4
    assert count_parameters(every) - count_parameters(plain) == 2 * 2 * 4 * 8 * 4 * 4
    # at initialisation the normed pre-activations of each sample have mean 0 and variance 1
    cell = first.cells[0]
    x, h = torch.randn(3, 16, 4, 4) * 5 + 2, torch.randn(3, 8, 4, 4)
    gates, _ = cell.input_gates(x, h)
    z = torch.cat(gates, dim=1).flatten(1)
    assert torch.allclose(z.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.var(1, unbiased=False), torch.ones(3), atol=1e-3)
    # the setting survives the checkpoint's description of the network
    assert NetConfig.from_dict(first.config.to_dict()).gate_norm == (0,)
    with pytest.raises(ValueError, match=r"gate_norm layers \[2\] must be in 0..1"):
        base.replace(gate_norm=(2,))


def test_gate_norm_reaches_the_network_from_the_config(tmp_path):
    config = load_config(None, TINY + [f"out={tmp_path}", "model.gate_norm=[1]", "iterations=2"])
    net = Trainer(config, progress=False).method.net
    assert [c.gate_norm is not None for c in net.cells] == [False, True]
