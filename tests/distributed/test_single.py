"""xpgrad.distributed in a plain process: a job of one, where every collective is an identity."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import xpgrad
import xpgrad.distributed as dist
from xpgrad import nn
from xpgrad.distributed.batchnorm import _SyncBatchNorm


def test_init_is_a_job_of_one_and_idempotent(fresh_dist):
    assert not dist.is_initialized()
    assert dist.init() == 1
    assert dist.init() == 1
    assert (dist.is_initialized(), dist.rank(), dist.world_size(), dist.local_rank(), dist.local_world_size(),
            dist.is_main()) == (True, 0, 1, 0, 1, True)
    with pytest.raises(RuntimeError, match="already initialized with comm='auto'"):
        dist.init(comm="nccl")


def test_a_later_plain_init_keeps_the_first_comm(fresh_dist):
    assert dist.init(comm="mpi") == 1
    assert dist.init() == 1 and dist.init(comm="mpi") == 1 and fresh_dist.comm == "mpi"
    with pytest.raises(RuntimeError, match="already initialized with comm='mpi'; init\\(comm='nccl'\\)"):
        dist.init(comm="nccl")


def test_init_checks_comm(fresh_dist):
    with pytest.raises(ValueError, match=r"comm='tcp'.*'auto', 'mpi', 'nccl'"):
        dist.init(comm="tcp")
    assert not dist.is_initialized()


def test_launched_without_mpi4py_names_the_extra(fresh_dist, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    with pytest.raises(RuntimeError, match=r"2 ranks.*mpi4py is not installed.*pip install -e \"\.\[mpi\]\""):
        dist.init()
    assert not dist.is_initialized()


def test_launched_with_one_rank_needs_no_mpi(fresh_dist, monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert dist.init() == 1


def test_bad_launcher_variable(fresh_dist, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "two")
    with pytest.raises(RuntimeError, match="PMI_SIZE='two' is not an integer"):
        dist.init()


def test_collectives_are_identities(cpu_backend):
    a = np.arange(3.0)
    assert dist.all_reduce(a) is a and a.tolist() == [0.0, 1.0, 2.0]
    t = xpgrad.tensor([1.0, 2.0])
    assert dist.all_reduce(t, op="max") is t and t.tolist() == [1.0, 2.0]
    assert dist.all_reduce_numbers([1, 2.5], op="min") == [1.0, 2.5]
    assert dist.all_reduce_numbers([]) == []
    assert dist.broadcast_object([1, "a"]) == [1, "a"]
    assert dist.all_gather_object({"x": 1}) == [{"x": 1}]
    dist.barrier()


def test_collectives_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"op must be one of 'sum', 'max', 'min', 'prod', got 'mean'"):
        dist.all_reduce(np.zeros(2), op="mean")
    with pytest.raises(TypeError, match="got list; for Python numbers use all_reduce_numbers"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(TypeError, match="sequence of real numbers"):
        dist.all_reduce_numbers(["a"])
    with pytest.raises(ValueError, match=r"root must be a rank in \[0, 1\), got 1"):
        dist.broadcast_object(1, root=1)
    with pytest.raises(ValueError, match="root must be a rank"):
        dist.broadcast_parameters(nn.Linear(1, 1), root=True)


def test_sync_helpers_in_a_job_of_one():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    dist.broadcast_parameters(model)
    assert all(np.array_equal(before[k], v.numpy()) for k, v in model.state_dict().items())
    assert dist.check_in_sync(model) is True
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)
    dist.broadcast_optimizer_state(opt)
    with pytest.raises(TypeError, match="takes an xpgrad nn.Module, got int"):
        dist.broadcast_parameters(3)
    with pytest.raises(TypeError, match="takes an xpgrad optimizer, got str"):
        dist.broadcast_optimizer_state("sgd")


def _model_and_data():
    xpgrad.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).to(dtype="float64")
    x = xpgrad.randn(6, 4, dtype="float64")
    return model, x


@pytest.mark.parametrize("name, hp", [("momentum", {"lr": 0.1, "momentum": 0.9}), ("adam", {"lr": 0.01})])
def test_distributed_optimizer_of_one_steps_like_the_wrapped_one(name, hp):
    model, x = _model_and_data()
    twin, _ = _model_and_data()
    opt = dist.DistributedOptimizer(xpgrad.optimizer(name, model.parameters(), **hp), bucket_mb=1e-4)
    ref = xpgrad.optimizer(name, twin.parameters(), **hp)
    for _ in range(3):
        for m, o in ((model, opt), (twin, ref)):
            o.zero_grad()
            loss = (m(x) ** 2).mean()
            loss.backward()
        opt.set_batch(6, loss_sum=loss * 6)
        opt.step()
        ref.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
    assert opt.last.samples == 6 and not opt.last.nonfinite
    assert opt.last.loss_sum == pytest.approx(float(loss) * 6)


def test_distributed_optimizer_delegates():
    model, _ = _model_and_data()
    inner = xpgrad.optimizer("momentum", model.parameters(), lr=0.1, momentum=0.5)
    opt = dist.DistributedOptimizer(inner)
    assert opt.optimizer is inner and opt.param_groups is inner.param_groups and opt.state is inner.state
    assert opt.defaults is inner.defaults and not opt.needs_closure
    assert opt.flatten is True and opt.update == inner.update  # anything else: the wrapped optimizer's
    with pytest.raises(AttributeError, match="no attribute '_hidden'"):
        opt._hidden  # noqa: B018
    assert opt.flat_buffers() == inner.flat_buffers()
    assert repr(opt).startswith("DistributedOptimizer(") and "bucket_mb=4" in repr(opt)
    extra = xpgrad.zeros(2, dtype="float64", requires_grad=True)
    opt.add_param_group({"params": [extra], "lr": 0.5})
    assert inner.param_groups[-1]["params"] == [extra]
    opt.load_state_dict(opt.state_dict())
    model(xpgrad.ones((1, 4), dtype="float64")).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert opt.last is None


def test_distributed_optimizer_refusals():
    w = xpgrad.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="cannot wrap RandomSearch: it needs a closure"):
        dist.DistributedOptimizer(xpgrad.optimizer("random_search", [w]))
    with pytest.raises(TypeError, match="wraps an xpgrad optimizer"):
        dist.DistributedOptimizer([w])
    inner = dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w], lr=0.1))
    with pytest.raises(TypeError, match="already a DistributedOptimizer"):
        dist.DistributedOptimizer(inner)
    for bad in (0, -1.0, float("nan"), True, "4"):
        with pytest.raises(ValueError, match="bucket_mb must be a positive finite number"):
            dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w], lr=0.1), bucket_mb=bad)
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="samples must be an int >= 0"):
            inner.set_batch(bad)
    with pytest.raises(TypeError, match="loss_sum must be a number or a 0-d tensor, got Tensor of shape"):
        inner.set_batch(2, loss_sum=xpgrad.zeros(2))


def test_nonfinite_skips_the_step():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    opt = dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w], lr=0.5))
    (w * w).sum().backward()
    opt.set_batch(2, loss_sum=float("nan"))
    opt.step()
    assert opt.last.nonfinite and w.tolist() == [1.0, 2.0]
    opt.zero_grad()
    (w * float("inf")).sum().backward()  # infinite gradients, no loss given
    opt.step()
    assert opt.last == dist.StepFigures(None, 1, True) and w.tolist() == [1.0, 2.0]
    opt.zero_grad()
    (w * w).sum().backward()
    opt.step()
    assert not opt.last.nonfinite and w.tolist() == [0.0, 0.0]


def test_step_closure_is_called_and_returned():
    w = xpgrad.tensor([1.0], requires_grad=True)
    opt = dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w], lr=0.25))

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 1.0 and w.tolist() == [0.5]


@pytest.mark.parametrize("bn_backend", ["numpy", "array_api_strict"])
def test_sync_batchnorm_of_one_is_batchnorm(bn_backend):
    with xpgrad.use_backend(bn_backend):
        xpgrad.manual_seed(1)
        x = xpgrad.randn(5, 3, dtype="float64")
        bn, sync = nn.BatchNorm1d(3, dtype="float64"), dist.SyncBatchNorm1d(3, dtype="float64")
        assert np.array_equal(bn(x).numpy(), sync(x).numpy())
        assert np.array_equal(bn.running_var.numpy(), sync.running_var.numpy())
        assert list(bn.state_dict()) == list(sync.state_dict())


@pytest.mark.parametrize("bn_backend", ["numpy", "array_api_strict"])
def test_sync_batchnorm_node_gradients(bn_backend):
    """On one rank the node's closed-form backward is BatchNorm's: checked against central differences."""
    with xpgrad.use_backend(bn_backend):
        xpgrad.manual_seed(2)
        x = xpgrad.randn(6, 3, dtype="float64", requires_grad=True)
        gamma = xpgrad.randn(3, dtype="float64", requires_grad=True)
        beta = xpgrad.randn(3, dtype="float64", requires_grad=True)

        def fn(x, gamma, beta):
            with xpgrad.no_grad():
                mean, var = xpgrad.mean(x, axis=0), xpgrad.var(x, axis=0)
            total = xpgrad.full((1,), 6.0, dtype="float64")
            return _SyncBatchNorm.apply(x, gamma, beta, mean, var, total, eps=1e-5, rows=6)

        assert xpgrad.gradcheck(fn, [x, gamma, beta])


def test_convert_sync_batchnorm_keeps_tensors_and_mode():
    bn = nn.BatchNorm1d(3, momentum=0.3, eps=1e-3)
    model = nn.Sequential(nn.Linear(2, 3), bn, nn.Sequential(nn.BatchNorm1d(3)))
    model[2].eval()
    out = dist.convert_sync_batchnorm(model)
    assert out is model
    assert type(model[1]) is dist.SyncBatchNorm1d and type(model[2][0]) is dist.SyncBatchNorm1d
    new = model[1]
    assert new is bn and (new.momentum, new.eps) == (0.3, 1e-3)
    assert new.training and not model[2][0].training
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                        "1.running_var", "2.0.weight", "2.0.bias", "2.0.running_mean",
                                        "2.0.running_var"]
    alone = nn.BatchNorm1d(2)
    assert dist.convert_sync_batchnorm(alone) is alone and type(alone) is dist.SyncBatchNorm1d
    with pytest.raises(TypeError, match="takes an xpgrad nn.Module, got int"):
        dist.convert_sync_batchnorm(1)


def test_stale_gradient_slots_do_not_count():
    """A NaN left in the slot of a parameter that has no gradient this step is neither flagged nor summed."""
    w, u = xpgrad.tensor([1.0], requires_grad=True), xpgrad.tensor([3.0], requires_grad=True)
    opt = dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w, u], lr=0.5))
    (w * u * float("nan")).sum().backward()
    opt.step()
    assert opt.last.nonfinite and (w.tolist(), u.tolist()) == ([1.0], [3.0])
    opt.zero_grad()
    (w * 2.0).sum().backward()  # u gets no gradient: its slot still holds the NaN of the last step
    opt.step()
    assert not opt.last.nonfinite and (w.tolist(), u.tolist()) == ([0.0], [3.0]) and u.grad is None
    (buf,) = opt.flat_buffers()
    assert buf.grad.tolist() == [2.0, 0.0]
