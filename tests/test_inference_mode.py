"""The inference-only entry points run under torch.inference_mode (issue 19, throughput), and cpu_flags reads
/proc/cpuinfo's bf16-relevant flags."""
import numpy as np
import torch

from transmem.data.base import SequenceData
from transmem.evaluation.evaluate import evaluate_model
from transmem.machine import cpu_flags


class Recorder(torch.nn.Module):
    """Predicts the last input frame and records whether it ran in inference mode."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def predict(self, x, horizon):
        self.seen.append(torch.is_inference_mode_enabled())
        return x[:, -1:].expand(-1, horizon, -1, -1, -1)


def test_evaluate_model_runs_in_inference_mode_and_leaves_it_afterwards():
    data = SequenceData("toy", "test", np.random.rand(3, 4, 1, 8, 8).astype(np.float32), t_in=2, t_out=2)
    net = Recorder()
    result = evaluate_model(net, data, batch_size=2)
    assert net.seen == [True, True] and "test_ms_per_seq" in result
    assert not torch.is_inference_mode_enabled()


def test_cpu_flags_picks_the_bf16_relevant_flags():
    text = "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512f amx_tile avx512_bf16 sse\n"
    assert cpu_flags(text) == ("avx512_bf16", "amx_tile", "avx512f", "avx2")
    assert cpu_flags("processor\t: 0\n") == ()
