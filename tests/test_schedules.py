"""Schedules: sequences against closed forms, with and without warmup; the scheduler contract."""

import json
import math

import pytest

import xpgrad
from xpgrad import schedules as S

A0 = 0.4


def closed_form(name, t, T, **kw):
    """The lecture's formulas, written independently of the implementation."""
    if name == "constant":
        return A0
    if name == "step":
        return A0 * kw.get("gamma", 0.1) ** sum(t >= m for m in kw["milestones"])
    if name == "cosine":
        return 0.5 * A0 * (1 + math.cos(t * math.pi / T)) if t < T else 0.0
    if name == "linear":
        return A0 * (1 - t / T) if t < T else 0.0
    if name == "inverse_sqrt":
        return A0 / math.sqrt(t + 1)
    if name == "cosine_restarts":
        p = kw["period"]
        return 0.5 * A0 * (1 + math.cos(math.pi * (t % p) / p))
    raise AssertionError(name)


KW = {"constant": {}, "step": {"milestones": [3, 7]}, "cosine": {"total_steps": 12},
      "linear": {"total_steps": 12}, "inverse_sqrt": {}, "cosine_restarts": {"period": 4}}


def sequence(name, n=16, **kw):
    opt = xpgrad.optimizer("sgd", [xpgrad.tensor([1.0], requires_grad=True)], lr=A0)
    sched = xpgrad.schedule(name, opt, **kw)
    out = []
    for _ in range(n):
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return out


@pytest.mark.parametrize("name", sorted(KW))
def test_sequence_matches_closed_form(name):
    kw = KW[name]
    want = [closed_form(name, t, kw.get("total_steps"), **kw) for t in range(16)]
    assert sequence(name, **kw) == pytest.approx(want, abs=1e-15)


@pytest.mark.parametrize("name", sorted(KW))
def test_warmup_then_schedule_on_shifted_step(name):
    kw, W = KW[name], 4
    T = kw.get("total_steps")
    got = sequence(name, warmup_steps=W, **kw)
    for t, lr in enumerate(got):
        want = A0 * t / W if t < W else closed_form(name, t - W, None if T is None else T - W, **kw)
        assert lr == pytest.approx(want, abs=1e-15), t


def test_lecture_examples():
    lrs = sequence("step", n=100, milestones=[30, 60, 90], gamma=0.1)
    assert lrs[29] == A0 and lrs[30] == pytest.approx(A0 * 0.1) and lrs[99] == pytest.approx(A0 * 1e-3)
    assert S.cosine_lr(5, 1.0, total_steps=10) == pytest.approx(0.5)
    assert S.cosine_lr(50, 1.0, total_steps=10, min_lr=0.01) == 0.01
    assert S.linear_lr(3, 2.0, total_steps=4) == pytest.approx(0.5)


def test_cosine_min_lr_floor_and_restarts_with_growing_periods():
    lrs = sequence("cosine", n=14, total_steps=10, min_lr=0.1)
    assert lrs[0] == A0 and lrs[5] == pytest.approx(0.1 + 0.5 * (A0 - 0.1)) and lrs[10:] == [0.1] * 4
    restarts = [i for i, lr in enumerate(sequence("cosine_restarts", n=30, period=2, period_mult=2)) if lr == A0]
    assert restarts == [0, 2, 6, 14]


def test_scheduler_writes_lr_at_construction_for_every_group():
    a, b = xpgrad.tensor([1.0], requires_grad=True), xpgrad.tensor([1.0], requires_grad=True)
    opt = xpgrad.optimizer("sgd", [{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = xpgrad.schedule("linear", opt, total_steps=10, warmup_steps=2)
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.0]
    sched.step()
    assert sched.get_last_lr() == [0.05, 0.5]
    assert sched.lr_at(2) == [0.1, 1.0]


def test_resume_from_state_dict_continues_exactly():
    def make():
        opt = xpgrad.optimizer("adam", [xpgrad.tensor([1.0], requires_grad=True)], lr=0.3)
        return opt, xpgrad.schedule("cosine", opt, total_steps=20, warmup_steps=3)

    opt, sched = make()
    for _ in range(7):
        sched.step()
    saved_opt = json.loads(json.dumps(opt.state_dict()["param_groups"]))
    saved = json.loads(json.dumps(sched.state_dict()))
    opt2, sched2 = make()
    opt2.load_state_dict({"state": {}, "param_groups": saved_opt})
    sched2.load_state_dict(saved)
    for _ in range(15):
        assert sched2.get_last_lr() == sched.get_last_lr() and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
        sched.step()
        sched2.step()


def test_a_second_scheduler_starts_from_initial_lr():
    opt = xpgrad.optimizer("sgd", [xpgrad.tensor([1.0], requires_grad=True)], lr=1.0)
    first = xpgrad.schedule("step", opt, milestones=[1], gamma=0.5)
    first.step()
    again = xpgrad.schedule("constant", opt)
    assert again.get_last_lr() == [1.0]


def test_lr_function_is_pure_and_errors_are_clear():
    f = S.lr_function("cosine", 1.0, warmup_steps=2, total_steps=6)
    assert [f(t) for t in (0, 1, 2, 4, 6)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    with pytest.raises(TypeError, match="needs total_steps"):
        S.lr_function(S.linear_lr, 1.0)
    with pytest.raises(TypeError, match="unknown keyword.*gama"):
        S.lr_function("step", 1.0, gama=0.5)
    with pytest.raises(ValueError, match="gamma"):
        S.lr_function("step", 1.0, gamma=-1)
    with pytest.raises(ValueError, match="period"):
        S.lr_function("cosine_restarts", 1.0, period=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        S.lr_function("constant", 1.0, warmup_steps=-1)
    with pytest.raises(TypeError, match="param_groups"):
        xpgrad.schedule("constant", object())
