"""`precision: auto`: the probe's decision rule, and that the probe leaves the run it measures untouched."""
import json

import pytest
import torch

from transmem.cli import main
from transmem.models.memory_bank import MemoryBank
from transmem.training import precision as precision_module
from transmem.training import trainer as trainer_module
from transmem.training.config import load_config
from transmem.training.precision import PrecisionChoice, choose_precision
from transmem.training.trainer import Trainer, TrainingError

CPU = torch.device("cpu")
NATIVE = ("avx512f", "avx512_bf16")
TINY = ["data.options={frame_size: 16, seq_len: 6, t_in: 3}", "data.train_size=8", "data.valid_size=4",
        "data.test_size=4", "model.hidden=[8]", "model.kernel_size=3", "model.patch_size=2", "iterations=3",
        "batch_size=4", "val_every=3", "log_every=1", "checkpoint_every=1"]


def timer(seconds: dict[str, float], calls: list | None = None):
    def run(p):
        if calls is not None:
            calls.append(p)
        return seconds[p]
    return run


def never(p):
    raise AssertionError("no probe should run")


def test_bf16_is_taken_only_when_faster_by_the_margin():
    fast = choose_precision("auto", device=CPU, flags=NATIVE, time_step=timer({"fp32": 1.0, "bf16": 0.6}))
    assert (fast.train, fast.bank) == ("bf16", "bf16") and fast.seconds == {"step_fp32": 1.0, "step_bf16": 0.6}
    slight = choose_precision("auto", device=CPU, flags=NATIVE, time_step=timer({"fp32": 1.0, "bf16": 0.9}))
    assert (slight.train, slight.bank) == ("fp32", "fp32") and "0.90x" in slight.reason
    slower = choose_precision("auto", device=CPU, flags=NATIVE, time_step=timer({"fp32": 1.0, "bf16": 4.0}))
    assert slower.train == "fp32"


def test_the_bank_goes_bf16_alone_when_only_it_gains():
    bank_fast = choose_precision("auto", device=CPU, flags=NATIVE, time_step=timer({"fp32": 1.0, "bf16": 0.95}),
                                 time_bank=timer({"fp32": 0.5, "bf16": 0.25}))
    assert (bank_fast.train, bank_fast.bank) == ("fp32", "bf16")
    assert "memory bank in bf16" in bank_fast.describe() and bank_fast.describe(bank=False).startswith("training in fp32: auto")
    assert bank_fast.seconds["bank_fp32"] == 0.5 and bank_fast.seconds["bank_bf16"] == 0.25
    bank_slow = choose_precision("auto", device=CPU, flags=NATIVE, time_step=timer({"fp32": 1.0, "bf16": 0.95}),
                                 time_bank=timer({"fp32": 0.5, "bf16": 0.45}))
    assert bank_slow.bank == "fp32"


def test_no_probe_without_native_bf16_on_cuda_or_when_set(monkeypatch):
    assert choose_precision("auto", device=CPU, flags=("avx512f", "avx2"), time_step=never).train == "fp32"
    for supported, expected in ((True, "bf16"), (False, "fp32")):  # a GPU without bf16 (before Ampere): fp32
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: supported)
        assert choose_precision("auto", device=torch.device("cuda"), time_step=never).train == expected
    assert choose_precision("bf16", device=CPU, flags=(), time_step=never).bank == "bf16"
    assert choose_precision("fp32", device=CPU, flags=NATIVE, time_step=never).train == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        choose_precision("fp16", device=CPU, time_step=never)


def test_the_probe_alternates_and_drops_each_first_step():
    calls, times = [], iter([50.0, 60.0, 1.0, 0.5, 1.2, 0.6, 1.1, 0.7])  # warm-ups 50 and 60 are slow
    choice = choose_precision("auto", device=CPU, flags=NATIVE, time_step=lambda p: calls.append(p) or next(times))
    assert calls == ["fp32", "bf16"] * 4
    assert choice.seconds == {"step_fp32": 1.1, "step_bf16": 0.6}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    args = [a for item in TINY for a in ("--set", item)]
    assert main(["pretrain", "--dataset", "mnist1", "--name", "one", "--zoo", str(root),
                 "--out", str(tmp_path_factory.mktemp("precision-pre")), *args, "--no-progress"]) == 0
    return str(root)


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.method.trainable_state().items()}


def test_a_probed_run_ends_with_the_weights_of_an_fp32_run(zoo, tmp_path, monkeypatch):
    """The real probe (steps on a copy, bank timing) runs, chooses fp32, and changes nothing of the run."""
    mt = TINY + ["method=memory-transfer", "sources=[one]", "beta=0.1"]
    plain = Trainer(load_config(None, mt + [f"out={tmp_path / 'fp32'}", "precision=fp32"]), zoo=zoo, progress=False)
    plain.run()
    monkeypatch.setattr("transmem.training.precision.cpu_flags", lambda: NATIVE)
    probed_calls = []
    real = precision_module.choose_precision

    def never_faster(setting, **kw):
        probed_calls.append(setting)
        return real(setting, margin=1e9, **kw)  # the probe runs in full, then keeps fp32

    monkeypatch.setattr(trainer_module, "choose_precision", never_faster)
    probed = Trainer(load_config(None, mt + [f"out={tmp_path / 'auto'}"]), zoo=zoo, progress=False)
    probed.run()
    saved = json.loads((tmp_path / "auto" / "precision.json").read_text())
    assert probed_calls == ["auto"] and saved["train"] == "fp32" and saved["bank"] == "fp32"
    assert set(saved["seconds"]) == {"step_fp32", "step_bf16", "bank_fp32", "bank_bf16"}
    for key, value in _weights(plain).items():
        assert torch.equal(value, _weights(probed)[key]), key


def test_resume_reads_the_choice_back_and_applies_it(zoo, tmp_path, monkeypatch):
    mt = TINY + ["method=memory-transfer", "sources=[one]", f"out={tmp_path}"]
    monkeypatch.setattr(trainer_module, "choose_precision",
                        lambda setting, **kw: PrecisionChoice("fp32", "bf16", "forced by the test"))
    first = Trainer(load_config(None, mt + ["iterations=2"]), zoo=zoo, progress=False)
    first.run()
    assert first.method.bank.precision == "bf16"
    monkeypatch.setattr(trainer_module, "choose_precision", never)  # a resumed run must not probe again
    again = Trainer(load_config(None, mt), zoo=zoo, progress=False)
    results = again.run(resume=True)
    assert again.method.bank.precision == "bf16" and results["precision"]["reason"] == "forced by the test"
    (tmp_path / "precision.json").write_text('{"train": "fp8"}')
    with pytest.raises(ValueError, match="delete it and resume"):
        Trainer(load_config(None, mt + ["iterations=4"]), zoo=zoo, progress=False).run(resume=True)


def test_a_bf16_bank_keeps_the_memories_within_one_percent(zoo):
    from transmem.models.zoo import load_source

    source = load_source("one", zoo)
    bank = MemoryBank([source.net], target=source.net.config.replace(n_sources=1))
    frames = torch.rand(2, 6, 1, 16, 16)
    exact = bank.collect(frames, t_in=3)[0]
    bank.precision = "bf16"
    low = bank.collect(frames, t_in=3)[0]
    assert low.dtype == torch.float32  # the bank stays fp32
    relative = ((low - exact).norm() / exact.norm()).item()
    assert 0 < relative < 0.01


def test_the_precision_file_marks_a_run_and_overwrite_replaces_it(tmp_path):
    (tmp_path / "precision.json").write_text("{}")
    with pytest.raises(TrainingError, match="precision.json"):
        Trainer(load_config(None, TINY + [f"out={tmp_path}"]), progress=False).run()
    Trainer(load_config(None, TINY + [f"out={tmp_path}", "iterations=1"]), progress=False).run(overwrite=True)
    assert json.loads((tmp_path / "precision.json").read_text())["train"] == "fp32"


def test_resume_keeps_the_precision_a_run_began_with(tmp_path, monkeypatch):
    cfg = TINY + [f"out={tmp_path}", "iterations=2"]
    Trainer(load_config(None, cfg + ["precision=bf16"]), progress=False).run()
    with pytest.raises(TrainingError, match="says this run trains in bf16 but the config sets precision fp32"):
        Trainer(load_config(None, TINY + [f"out={tmp_path}", "precision=fp32"]), progress=False).run(resume=True)
    # a run begun before precision.json existed keeps the old rule (fp32 on a CPU) instead of probing
    (tmp_path / "precision.json").unlink()
    monkeypatch.setattr("transmem.training.precision.cpu_flags", lambda: NATIVE)
    monkeypatch.setattr(trainer_module, "choose_precision", never)
    again = Trainer(load_config(None, TINY + [f"out={tmp_path}", "iterations=3"]), progress=False)
    again.run(resume=True)
    assert again.precision.train == "fp32" and "before the probe existed" in again.precision.reason


@pytest.mark.parametrize("cell", ["released", "paper"])
def test_memory_transfer_trains_under_bf16_autocast(zoo, tmp_path, cell):
    """The TMU's hand-written backward meets bf16 activations: the unit runs in fp32 inside the autocast region."""
    cfg = load_config(None, TINY + ["method=memory-transfer", "sources=[one]", "precision=bf16", "iterations=2",
                                    f"model.released={'true' if cell == 'released' else 'false'}", f"out={tmp_path}"])
    trainer = Trainer(cfg, zoo=zoo, progress=False)
    before = _weights(trainer)
    results = trainer.run()
    assert results["precision"]["train"] == "bf16" and torch.isfinite(torch.tensor(results["test"]["mse"]))
    assert any(not torch.equal(v, _weights(trainer)[k]) for k, v in before.items())
