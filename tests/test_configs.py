"""Every shipped config parses (no unknown key), names registered things, and builds its target network."""
from pathlib import Path

import pytest

from transmem.models import NetConfig, count_parameters, PredictiveNet
from transmem.registry import DATASETS, METHODS
from transmem.training.config import load_config

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def test_there_is_one_config_per_paper_experiment():
    names = {p.stem for p in CONFIGS}
    assert {"flying_digits", "flying_digits_predrnn", "flying_digits_mim", "human_motion", "radar", "kth_transfer",
            "demo"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    cfg = load_config(path)
    assert cfg.data.name in DATASETS and cfg.method in METHODS
    size = cfg.data.options.get("frame_size", 64)
    m = cfg.model
    net = PredictiveNet(NetConfig(backbone=m.backbone, frame_size=(size, size), patch_size=m.patch_size,
                                  hidden=tuple(m.hidden), kernel_size=m.kernel_size))
    assert count_parameters(net) > 0


def test_paper_configs_use_the_paper_settings():
    for name in ("flying_digits", "human_motion", "radar"):
        cfg = load_config(Path(__file__).parent.parent / "configs" / f"{name}.yaml")
        assert (cfg.model.hidden, cfg.batch_size, cfg.lr, cfg.iterations, cfg.beta) == ([64] * 4, 8, 1e-3, 80000, 0.1)
    assert load_config(Path(__file__).parent.parent / "configs" / "radar.yaml").model.kernel_size == 3


@pytest.mark.parametrize("override, message", [
    ("iterations=ten", "config key iterations must be an integer, got 'ten'"),
    ("batch_size=1.5", "config key batch_size must be an integer, got 1.5"),
    ("model.released=yes please", "config key model.released must be true or false"),
    ("model.hidden=[32, true]", "config key model.hidden must be a list of integers"),
    ("model.hidden=[]", "model.hidden must be a non-empty list of positive widths"),
    ("lr=-0.001", "lr must be > 0, got -0.001"),
    ("beta=-1", r"beta must be in \[0, inf\], got -1.0"),
    ("warmup_fraction=1.5", r"warmup_fraction must be in \[0, 1\]"),
    ("precision=fp16", "precision 'fp16' is not one of auto, bf16, fp32"),
    ("distill_norm=l1", "distill_norm 'l1' is not one of element"),
    ("model.tmu_combine=sum", "model.tmu_combine 'sum' is not one of paper, convex"),
    ("data=3", "data: expected a mapping, got int"),
    ("model.hidden=[8,", r"override 'model.hidden=\[8,': the value is not valid YAML"),
    ("model.hidden=8", "config key model.hidden must be a list of integers, got 8"),
    ("model.kernel_size=4", "model.kernel_size must be odd"),
    ("model.kernel_size=4.5", "config key model.kernel_size must be an integer"),
    ("iterations=-5", "iterations must be > 0, got -5"),
    ("batch_size=0", "batch_size must be > 0, got 0"),
])
def test_a_config_value_of_the_wrong_type_or_range_is_named_with_what_it_accepts(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


def test_numbers_yaml_reads_as_text_are_numbers():
    """PyYAML reads 1e-3 (no dot) as a string; a float field takes it as the number it is."""
    config = load_config(None, ["lr=1e-3", "beta=0", "model.gate_norm=[0]"])
    assert config.lr == 0.001 and isinstance(config.beta, float) and config.model.gate_norm == [0]


def test_a_kernel_wider_than_the_state_is_refused_before_any_weight_is_allocated():
    """A 35,201-wide kernel (found by the fuzz test) would ask for terabytes; on a 32x32 frame with patch 4 the state
    is 8x8, so 15 is the widest kernel whose every weight can touch it."""
    from transmem.models.network import NetConfig

    NetConfig(frame_size=(32, 32), patch_size=4, hidden=(8,), kernel_size=15)
    with pytest.raises(ValueError, match="kernel_size 17 is wider than the 8x8 state it slides over: use at most 15"):
        NetConfig(frame_size=(32, 32), patch_size=4, hidden=(8,), kernel_size=17)
    with pytest.raises(ValueError, match="kernel_size 35201 is wider"):
        NetConfig(frame_size=(64, 32), patch_size=4, hidden=(8,), kernel_size=35201)
