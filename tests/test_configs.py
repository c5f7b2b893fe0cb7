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
