"""Property-based fuzzing of what users type and feed: config overrides and frame arrays of any shape, dtype and
value. Each case either works as documented or fails with one line (exit code 2 on the command line), and the files
already in the run's folder are never changed."""
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from transmem.cli import main
from transmem.data.io import read_frames
from transmem.registry import BACKBONES, DATASETS, METHODS, check_choice
from transmem.training.config import TrainConfig, load_config

KEYS = ["iterations", "batch_size", "lr", "beta", "warmup_fraction", "lr_min", "lr_schedule", "precision",
        "distill_norm", "seed", "model.hidden", "model.kernel_size", "model.patch_size", "model.released",
        "model.gate_norm", "data.fraction", "data.train_size", "method_options", "data", "model"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.one_of(st.integers(-4, 64), st.booleans(), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
RAW = st.text(alphabet="[]{},:0123456789abe.-' \"", max_size=10)  # also malformed YAML


@pytest.fixture(autouse=True)
def _subnormals_on():
    """Training turns flush-to-zero on for speed (here or in an earlier test of the session); Hypothesis's float
    strategies need subnormals, so they are on for every test here."""
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


def _unflush():
    torch.set_flush_denormal(False)


def _one_line(message: str) -> bool:
    return bool(message) and "\n" not in message.strip() and "Traceback" not in message


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS), value=VALUES, raw=RAW, use_raw=st.booleans())
@example(key="data", value=None, raw="0:", use_raw=True)  # a mapping with an integer key (found by this test)
@example(key="model", value={None: 1, "a": 2}, raw="", use_raw=False)  # keys of mixed types: sorted as text
@example(key="lr_schedule", value="\n", raw="", use_raw=False)  # a value with a newline: named by its repr
def test_any_override_gives_a_valid_config_or_one_line_naming_it(key, value, raw, use_raw):
    text = raw if use_raw else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    try:
        config = load_config(None, [f"{key}={text}"])
    except ValueError as err:
        assert _one_line(str(err)), str(err)
        return
    assert isinstance(config, TrainConfig)
    config.check()  # what loaded is valid by the config's own rules
    assert config.iterations > 0 and config.batch_size > 0 and config.lr > 0 and config.model.kernel_size % 2 == 1


@settings(max_examples=200, deadline=None)
@given(registry=st.sampled_from([BACKBONES, DATASETS, METHODS]), name=st.text(max_size=12))
@example(registry=BACKBONES, name="convlstm\n")  # a newline after a known name
@example(registry=METHODS, name="'; rm -rf /")
def test_any_registry_name_is_found_or_refused_in_one_line_naming_it(registry, name):
    if name in registry.names():
        assert registry.entry(name).name == name
        return
    with pytest.raises(KeyError) as err:
        registry.get(name)
    message = err.value.args[0]
    assert _one_line(message) and repr(name) in message and registry.names()[0] in message, message


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.text(max_size=12), st.none(), st.integers(), st.floats(allow_nan=True)))
@example(value="cosine\n")
def test_a_setting_outside_its_choices_is_refused_in_one_line_naming_it(value):
    allowed = ("constant", "cosine")
    if value in allowed:
        check_choice("lr_schedule", value, allowed)
        return
    with pytest.raises(ValueError) as err:
        check_choice("lr_schedule", value, allowed)
    message = str(err.value)
    assert _one_line(message) and message.startswith(f"lr_schedule {value!r} is not one of constant, cosine"), message


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from test_training import tiny_args

    run = tmp_path_factory.mktemp("fuzz") / "run"
    assert main(["train", "--dataset", "mnist1", "--out", str(run), *tiny_args()]) == 0
    _unflush()
    return run


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(KEYS), value=VALUES)
@example(key="model.kernel_size", value=35201)  # found by this test: it allocated 1.9 TB before refusing
def test_train_on_a_finished_run_with_any_override_exits_2_and_changes_nothing(finished_run, capsys, key, value):
    from test_training import tiny_args

    before = _snapshot(finished_run)
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    code = main(["train", "--dataset", "mnist1", "--out", str(finished_run), *tiny_args(), "--set", f"{key}={text}"])
    _unflush()
    err = capsys.readouterr().err
    assert code == 2 and _one_line(err), err
    assert _snapshot(finished_run) == before


DTYPES = [np.uint8, np.float32, np.float64, np.int16, np.bool_, np.float16]
ARRAYS = st.tuples(
    hnp.arrays(dtype=np.float64, shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=7),
               elements=st.floats(-2, 300) | st.just(float("nan")) | st.just(float("inf")) | st.just(0.5)),
    st.sampled_from(DTYPES),
).map(lambda pair: _cast(*pair))


def _cast(array: np.ndarray, dtype) -> np.ndarray:
    """numpy's own unsafe cast (NaN to an integer is whatever numpy makes of it): any bytes a file could hold."""
    with np.errstate(invalid="ignore", over="ignore"):
        return array.astype(dtype)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=ARRAYS)
def test_any_frame_array_reads_as_frames_in_0_1_or_fails_in_one_line(tmp_path, array):
    path = tmp_path / "clip.npy"
    np.save(path, array)
    try:
        frames = read_frames(path)
    except ValueError as err:
        assert _one_line(str(err)), str(err)
        return
    assert frames.dtype == np.float32 and frames.ndim == 4 and frames.shape[1] in (1, 3)
    assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=ARRAYS)
def test_predict_on_any_array_writes_a_prediction_or_exits_2_leaving_no_folder(tmp_path_factory, capsys, array):
    folder = tmp_path_factory.mktemp("p")
    clip, out = folder / "clip.npy", folder / "out"
    np.save(clip, array)
    code = main(["predict", "zoo/demo-mnist1/model.safetensors", str(clip), "--horizon", "2", "--out", str(out)])
    _unflush()
    err = capsys.readouterr().err
    if code == 0:
        assert np.load(out / "prediction.npy").shape == (2, 1, 32, 32)
    else:
        assert code == 2 and _one_line(err), err
        assert not out.exists()
