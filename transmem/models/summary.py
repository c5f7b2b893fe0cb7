"""Parameter counts in training (target + frozen sources) and at test time (the target alone)."""
from __future__ import annotations

from transmem.models.network import NetConfig, PredictiveNet, count_parameters


def parameter_rows(config: NetConfig, n_sources: int) -> list[dict]:
    """Rows for the plain backbone, the paper's TMU and the released TMU, with n_sources sources that share the
    target's architecture (as in the paper's Table 1)."""
    plain = config.replace(n_sources=0, tmu_layers=None, released=False)
    plain_count = count_parameters(PredictiveNet(plain))
    rows = [dict(model=plain.backbone, variant="plain", sources=0, tmu_layers=[], train=plain_count, test=plain_count)]
    if n_sources > 0:
        for released in (False, True):
            cfg = plain.replace(n_sources=n_sources, released=released)
            test = count_parameters(PredictiveNet(cfg))
            rows.append(
                dict(
                    model=f"TMU-{plain.backbone}",
                    variant="released" if released else "paper",
                    sources=n_sources,
                    tmu_layers=list(cfg.transfer_layers),
                    train=test + n_sources * plain_count,
                    test=test,
                )
            )
    return rows
