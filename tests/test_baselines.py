"""The transfer baselines of the paper's Table 1: L2-SP, Knowledge Flow and ART (transmem.training.methods)."""
from pathlib import Path

import pytest
import torch

from transmem.models.network import NetConfig, PredictiveNet, count_parameters
from transmem.models.zoo import Source
from transmem.registry import METHODS
from transmem.training.config import ModelConfig, TrainConfig
from transmem.training.methods.l2sp import l2sp_penalty
from transmem.training.objective import frame_loss

SMALL = dict(frame_size=(16, 16), patch_size=2, hidden=(8, 8), kernel_size=3)
T, T_IN, B = 6, 3, 2


def source(name="s", **kw) -> Source:
    net = PredictiveNet(NetConfig(**{**SMALL, **kw})).eval().requires_grad_(False)
    return Source(name=name, path=Path("x"), net=net, card={})


def build(method, sources, **options):
    config = TrainConfig(
        method=method, model=ModelConfig(patch_size=2, hidden=[8, 8], kernel_size=3), method_options=options
    )
    return METHODS.get(method)(config=config, frame_channels=1, frame_size=(16, 16), sources=sources)


def clip(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, T, 1, 16, 16, generator=g)


def mixed_mask(seed=2):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T - 2, generator=g) > 0.5).float()


def sources_for(method):
    if method == "l2sp":
        return [source("one")]
    # two teachers, the second wider and deeper than the student (1x1 adapters and the layer map align them)
    return [source("one"), source("wide", hidden=(12, 12, 12))]


METHOD_NAMES = ["l2sp", "knowledge-flow", "art"]


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_one_step_trains_every_parameter_and_never_the_sources(name):
    sources = sources_for(name)
    method = build(name, sources)
    if hasattr(method, "set_progress"):
        method.set_progress(0.5)
    method.train()
    assert all(not s.net.training for s in sources)  # frozen sources stay in eval mode
    source_ids = {id(p) for s in sources for p in s.net.parameters()}
    source_before = [{k: v.clone() for k, v in s.net.state_dict().items()} for s in sources]
    params = method.trainable_parameters()
    assert params and not source_ids & {id(p) for p in params}
    names = {id(p): n for n, p in method.named_parameters()}
    before = [p.detach().clone() for p in params]

    opt = torch.optim.Adam(params, lr=1e-2)
    loss, parts = method(clip(), mask=mixed_mask(), t_in=T_IN)
    assert torch.isfinite(loss) and parts["total"] == pytest.approx(float(loss.detach()))
    loss.backward()
    no_grad = [names[id(p)] for p in params if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    opt.step()
    unchanged = [names[id(p)] for p, b in zip(params, before) if torch.equal(p.detach(), b)]
    assert unchanged == []

    for s, state in zip(sources, source_before):
        assert all(p.grad is None for p in s.net.parameters())
        assert all(torch.equal(v, state[k]) for k, v in s.net.state_dict().items())
    kept = method.trainable_state()
    source_tensors = {id(v) for s in sources for v in s.net.state_dict(keep_vars=True).values()}
    assert not source_tensors & {id(v) for v in kept.values()}
    assert not [k for k in kept if k.startswith(("teachers.", "anchors."))]
    assert {k for k, v in kept.items() if isinstance(v, torch.nn.Parameter)} == {
        n for n, p in method.named_parameters() if p.requires_grad
    }


# -- L2-SP -----------------------------------------------------------------------------------------------------
def test_l2sp_starts_at_the_source_and_the_penalty_matches_a_hand_computation():
    src = source()
    method = build("l2sp", [src], alpha=0.3, l2_new=0.7)
    assert all(torch.equal(p, src.net.state_dict()[n]) for n, p in method.net.named_parameters())
    shared, new = method.penalty()
    assert float(shared.detach()) == 0.0 and float(new.detach()) == 0.0

    head, bias = method.net.head.weight, method.net.cells[0].gate_conv.bias
    with torch.no_grad():
        head.add_(0.05)
        bias.sub_(0.02)
    expected = 0.3 / 2 * (0.05**2 * head.numel() + 0.02**2 * bias.numel())
    frames, mask = clip(), mixed_mask()
    loss, parts = method(frames, mask=mask, t_in=T_IN)
    frame = frame_loss(method.net(frames, t_in=T_IN, mask=mask).frames, frames[:, 1:])
    assert float((loss - frame).detach()) == pytest.approx(expected, rel=1e-4)
    assert parts["l2sp"] == pytest.approx(expected, rel=1e-4) and parts["l2_new"] == 0.0


def test_l2sp_penalty_on_parameters_the_source_lacks():
    w_shared, w_new = torch.full((3, 2), 1.5), torch.full((4,), -2.0)
    shared, new = l2sp_penalty(
        {"a": w_shared, "b": w_new}, {"a": torch.ones(3, 2)}, alpha=0.2, l2_new=0.1
    )
    assert float(shared) == pytest.approx(0.2 / 2 * 6 * 0.25)
    assert float(new) == pytest.approx(0.1 / 2 * 4 * 4.0)


def test_l2sp_alpha_keeps_the_weights_near_the_source():
    src = source()
    frames, mask = clip(), mixed_mask()

    def drift(alpha):
        method = build("l2sp", [src], alpha=alpha)
        opt = torch.optim.SGD(method.trainable_parameters(), lr=0.5)
        for _ in range(5):
            opt.zero_grad()
            method(frames, mask=mask, t_in=T_IN)[0].backward()
            opt.step()
        ref = src.net.state_dict()
        return sum(float((p.detach() - ref[n]).pow(2).sum()) for n, p in method.net.named_parameters()) ** 0.5

    free, anchored = drift(0.0), drift(2.0)  # lr * alpha = 1: each step pulls the weights all the way back
    assert free > 0
    assert anchored < 0.5 * free


# -- Knowledge Flow --------------------------------------------------------------------------------------------
def test_knowledge_flow_weights_are_a_softmax_and_mix_the_teachers_in():
    method = build("knowledge-flow", sources_for("knowledge-flow"))
    with torch.no_grad():
        method.logits.copy_(torch.randn_like(method.logits) * 3)
    w = method.weights()
    assert w.shape == (2, 3) and (w >= 0).all()
    assert torch.allclose(w.sum(dim=1), torch.ones(2))
    assert torch.allclose(w, torch.softmax(method.logits, dim=1))

    method.set_progress(0.0)
    frames, mask = clip(), mixed_mask()
    alone = method.net(frames, t_in=T_IN, mask=mask).frames
    with_teachers = method(frames, mask=mask, t_in=T_IN)[1]["frame"]
    assert with_teachers != pytest.approx(float(frame_loss(alone, frames[:, 1:]).detach()), rel=1e-6)
    with torch.no_grad():  # all weight on the student: the combined rollout is the student's own
        method.logits.zero_()
        method.logits[:, 0] = 60.0
    parts = method(frames, mask=mask, t_in=T_IN)[1]
    assert parts["frame"] == pytest.approx(float(frame_loss(alone, frames[:, 1:]).detach()), rel=1e-5)
    assert parts["consistency"] < 1e-10


def test_knowledge_flow_predictor_is_the_student_alone():
    sources = sources_for("knowledge-flow")
    method = build("knowledge-flow", sources)
    net = method.predictor()
    assert net is method.net and isinstance(net, PredictiveNet)
    assert count_parameters(net) == count_parameters(PredictiveNet(NetConfig(**SMALL)))
    frames = clip()[:, :T_IN]
    before = net.predict(frames, horizon=3)
    with torch.no_grad():
        for s in sources:
            for p in s.net.parameters():
                p.add_(1.0)
    assert torch.equal(net.predict(frames, horizon=3), before)


def test_knowledge_flow_dependency_penalty_grows_with_progress():
    method = build("knowledge-flow", sources_for("knowledge-flow"), lambda_dependency=0.5)
    frames, mask = clip(), mixed_mask()
    losses, dependency = [], None
    for p in (0.0, 0.5, 1.0):
        method.set_progress(p)
        loss, parts = method(frames, mask=mask, t_in=T_IN)
        losses.append(float(loss.detach()))
        dependency = parts["dependency"]
    assert dependency == pytest.approx(2 * 2 / 3)  # 2 layers x (2 of 3 uniform weights) at the start
    assert losses[0] < losses[1] < losses[2]
    assert losses[1] - losses[0] == pytest.approx(0.5 * 0.5 * dependency, rel=1e-4)
    assert losses[2] - losses[0] == pytest.approx(0.5 * 1.0 * dependency, rel=1e-4)
    # the penalty's gradient pushes the teachers' logits down and the student's up
    grad = torch.autograd.grad(method.dependency_coefficient() * method.weights()[:, 1:].sum(), method.logits)[0]
    assert (grad[:, 0] < 0).all() and (grad[:, 1:] > 0).all()


def test_knowledge_flow_warns_without_progress():
    method = build("knowledge-flow", sources_for("knowledge-flow"))
    method.train()
    with pytest.warns(UserWarning, match="set_progress"):
        method(clip(), mask=mixed_mask(), t_in=T_IN)


# -- ART -------------------------------------------------------------------------------------------------------
def test_art_predict_runs_the_teachers_on_their_own_predictions():
    sources = sources_for("art")
    method = build("art", sources)
    predictor = method.predictor()
    frames = clip()[:, :T_IN]
    out = predictor.predict(frames, horizon=4)
    assert out.shape == (B, 4, 1, 16, 16) and torch.isfinite(out).all()
    assert not torch.allclose(out, method.net.predict(frames, horizon=4))  # the teachers matter
    assert count_parameters(predictor) > count_parameters(method.net) + sum(count_parameters(s.net) for s in sources)

    with torch.no_grad():  # a teacher's recurrent weights change what the student attends to
        sources[1].net.cells[0].gate_conv.weight.mul_(1.5)
    changed = predictor.predict(frames, horizon=4)
    assert not torch.allclose(changed, out)
    with torch.no_grad():
        sources[1].net.cells[0].gate_conv.weight.div_(1.5)
    assert torch.allclose(predictor.predict(frames, horizon=4), out, atol=1e-6)
    # a teacher's output head reaches its hidden states only through the predictions it feeds back to itself after
    # the input frames: changing it changes the forecast, but not its first frame (computed from true inputs only)
    with torch.no_grad():
        sources[0].net.head.weight.mul_(3.0)
    fed_back = predictor.predict(frames, horizon=4)
    assert torch.allclose(fed_back[:, 0], out[:, 0], atol=1e-6)
    assert not torch.allclose(fed_back[:, 1:], out[:, 1:])


def test_art_attention_weights_sum_to_one():
    method = build("art", sources_for("art"), attention_dim=4)
    h = torch.randn(B, 8, 8, 8)
    teachers = [torch.randn(B, 8, 8, 8), torch.randn(B, 12, 8, 8)]
    a, attn = method.attention[0].attend(h, teachers)
    assert a.shape == h.shape and attn.shape == (B, 64, 128)
    assert (attn >= 0).all() and torch.allclose(attn.sum(dim=-1), torch.ones(B, 64), atol=1e-5)
    assert method.attention[0].query.out_channels == 4


# -- errors ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,count,message",
    [("l2sp", 0, "takes 1 source"), ("l2sp", 2, "takes 1 source"), ("knowledge-flow", 0, "at least 1"),
     ("art", 0, "at least 1")],
)
def test_wrong_number_of_sources(name, count, message):
    with pytest.raises(ValueError, match=message):
        build(name, [source(f"s{i}") for i in range(count)])


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_unknown_option(name):
    with pytest.raises(ValueError, match="has no option"):
        build(name, sources_for(name), bogus=1)


@pytest.mark.parametrize("name", ["knowledge-flow", "art"])
def test_teacher_on_another_grid_is_a_clear_error(name):
    with pytest.raises(ValueError, match="patch_size=2"):
        build(name, [source("coarse", patch_size=4)])


def test_bad_option_values():
    with pytest.raises(ValueError, match="alpha"):
        build("l2sp", [source()], alpha=-1)
    with pytest.raises(ValueError, match="lambda_dependency"):
        build("knowledge-flow", [source()], lambda_dependency=-0.1)
    with pytest.raises(ValueError, match="attention_dim"):
        build("art", [source()], attention_dim=0)
    with pytest.raises(ValueError, match="frame channels"):
        build("l2sp", [source(frame_channels=3)])
