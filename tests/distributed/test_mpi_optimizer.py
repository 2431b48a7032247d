"""DistributedOptimizer and SyncBatchNorm1d against one process on the whole batch, in float64."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.mpi

# Every rank also runs the 1-process reference on the full batch (no collectives there), so the
# comparison happens inside the job; ranks report the largest difference and a digest of the weights.
EQUIVALENCE = '''
import hashlib
import numpy as np, xpgrad
from xpgrad import nn
dist.init()
size, r = dist.world_size(), dist.rank()
xpgrad.set_default_dtype("float64")
cuts = {2: [0, 7, 12], 3: [0, 5, 9, 12]}[size]  # uneven shards of a global batch of 12
data = np.random.default_rng(0)
X = data.standard_normal((4, 12, 5))             # 4 steps, each its own global batch
Y = data.integers(0, 3, size=(4, 12))
loss_fn = xpgrad.loss("cross_entropy")

def build(name, hp):
    xpgrad.manual_seed(7)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    unused = nn.Parameter(xpgrad.ones(2))        # in the optimizer, never in the loss: grad None everywhere
    opt = xpgrad.optimizer(name, [*model.parameters(), unused], **hp)
    return model, unused, opt

out = {}
for name, hp in (("momentum", {"lr": 0.1, "momentum": 0.9}), ("adam", {"lr": 0.05})):
    model, unused, opt = build(name, hp)
    opt = dist.DistributedOptimizer(opt, bucket_mb=1e-4)  # 100 bytes: several buckets per buffer
    ref, ref_unused, ref_opt = build(name, hp)
    losses = []
    for k in range(4):
        lo, hi = cuts[r], cuts[r + 1]
        opt.zero_grad()
        loss = loss_fn(model(X[k, lo:hi]), Y[k, lo:hi])
        loss.backward()
        opt.set_batch(hi - lo, loss_sum=float(loss) * (hi - lo))
        opt.step()
        losses.append([opt.last.loss_sum, opt.last.samples, opt.last.nonfinite])
        ref_opt.zero_grad()
        full = loss_fn(ref(X[k]), Y[k])
        full.backward()
        ref_opt.step()
        losses[-1].append(float(full) * 12)
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(model.parameters(), ref.parameters()))
    digest = hashlib.sha256(b"".join(p.numpy().tobytes() for p in model.parameters())).hexdigest()
    out[name] = {"diff": diff, "digest": digest, "losses": losses, "unused": unused.tolist(),
                 "unused_grad": unused.grad is None, "sync": dist.check_in_sync(model)}
report(out)
'''


@pytest.mark.parametrize("ranks", [2, 3])
def test_uneven_shards_match_one_process(mpirun, ranks):
    values = mpirun(EQUIVALENCE, ranks).results
    for name in ("momentum", "adam"):
        per_rank = [values[r][name] for r in range(ranks)]
        assert len({v["digest"] for v in per_rank}) == 1, f"{name}: ranks are not bit-identical"
        for v in per_rank:
            assert v["diff"] <= 1e-12, f"{name}: {v['diff']}"
            assert v["sync"] is True
            assert v["unused"] == [1.0, 1.0] and v["unused_grad"] is True
            for loss_sum, samples, nonfinite, full in v["losses"]:
                assert samples == 12 and nonfinite is False
                assert loss_sum == pytest.approx(full, rel=1e-12)


EDGES = '''
import math
import numpy as np, xpgrad
dist.init()
r = dist.rank()
out = {}
# A parameter with a gradient on rank 0 only: the others count zeros, weighted by their samples.
w = xpgrad.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
v = xpgrad.tensor([0.0], dtype="float64", requires_grad=True)
opt = dist.DistributedOptimizer(xpgrad.optimizer("sgd", [w, v], lr=1.0))
(w * (r + 1.0)).sum().backward()
if r == 0:
    (v * 4.0).sum().backward()
opt.set_batch([3, 1][r])
figures = opt.reduce_gradients()
out["w_grad"], out["v_grad"] = w.grad.tolist(), v.grad.tolist()
out["samples"], out["loss"] = figures.samples, figures.loss_sum
# A NaN on one rank makes every rank skip the step.
opt.zero_grad()
before = w.tolist()
(w * w).sum().backward()
opt.set_batch(2, loss_sum=float("nan") if r == 1 else 1.0)
opt.step()
out["nonfinite"], out["unchanged"] = opt.last.nonfinite, w.tolist() == before
# Loose parameters (an optimizer that does not flatten) are packed and reduced too.
class PlainSGD(xpgrad.optimizers.Optimizer):
    flatten = False
    defaults = {"lr": 1.0, "weight_decay": 0.0}
    def update(self, p, g, state, group):
        p.data = p.data - group["lr"] * g
a = xpgrad.tensor([[1.0, 1.0]], dtype="float64", requires_grad=True)
b = xpgrad.tensor([5.0], dtype="float32", requires_grad=True)
plain = dist.DistributedOptimizer(PlainSGD([a, b]))
((a * (r + 1.0)).sum() + b.sum() * (r + 2.0)).backward()
plain.step()
out["loose"] = [a.tolist(), b.tolist()]
# loss_sum given on some ranks only: the same error everywhere.
opt.zero_grad()
(w * w).sum().backward()
opt.set_batch(1, loss_sum=1.0 if r == 0 else None)
try:
    opt.step()
except RuntimeError as exc:
    out["partial"] = str(exc)
report(out)
'''


def test_partial_gradients_nonfinite_and_loose_parameters(mpirun):
    values = mpirun(EDGES, 2).results
    for v in values.values():
        assert v["w_grad"] == [3 / 4 * 1 + 1 / 4 * 2] * 2  # (3·1 + 1·2) / 4
        assert v["v_grad"] == [3 / 4 * 4.0]
        assert (v["samples"], v["loss"]) == (4, None)
        assert v["nonfinite"] is True and v["unchanged"] is True
        assert v["loose"] == [[[-0.5, -0.5]], [2.5]]  # 1 − (1 + 2)/2, 5 − (2 + 3)/2
        assert "loss_sum=...) was given on 1 of 2 ranks" in v["partial"]


SYNC_BN = '''
import numpy as np, xpgrad
from xpgrad import nn
dist.init()
r = dist.rank()
xpgrad.set_default_dtype("float64")
cuts = [0, 5, 8]
data = np.random.default_rng(1)
X = data.standard_normal((2, 8, 4)) * 3 + 1
C = data.standard_normal((2, 8, 4))          # the loss is Σ c·y over rows, divided by the rows it covers

def layer(cls):
    xpgrad.manual_seed(3)
    bn = cls(4, momentum=0.3)
    bn.weight.data[...] = np.array([1.0, 2.0, -0.5, 0.7])
    bn.bias.data[...] = np.array([0.1, 0.0, 0.3, -1.0])
    return bn

model = dist.convert_sync_batchnorm(nn.Sequential(layer(nn.BatchNorm1d)))
sync = model[0]
opt = dist.DistributedOptimizer(xpgrad.optimizer("sgd", sync.parameters(), lr=0.0))
ref = layer(nn.BatchNorm1d)
worst = {"y": 0.0, "x": 0.0, "w": 0.0, "b": 0.0, "stats": 0.0}
lo, hi = cuts[r], cuts[r + 1]
for k in range(2):
    x = xpgrad.tensor(X[k, lo:hi], requires_grad=True)
    opt.zero_grad()
    y = sync(x)
    ((y * xpgrad.tensor(C[k, lo:hi])).sum() / (hi - lo)).backward()
    opt.set_batch(hi - lo)
    opt.reduce_gradients()
    xf = xpgrad.tensor(X[k], requires_grad=True)
    ref.zero_grad()
    yf = ref(xf)
    ((yf * xpgrad.tensor(C[k])).sum() / 8).backward()
    worst["y"] = max(worst["y"], float(np.max(np.abs(y.numpy() - yf.numpy()[lo:hi]))))
    # this rank's input gradient is N/n_r times its rows' share of the full-batch gradient
    worst["x"] = max(worst["x"], float(np.max(np.abs(np.asarray(x.grad) * (hi - lo) / 8 - np.asarray(xf.grad)[lo:hi]))))
    worst["w"] = max(worst["w"], float(np.max(np.abs(np.asarray(sync.weight.grad) - np.asarray(ref.weight.grad)))))
    worst["b"] = max(worst["b"], float(np.max(np.abs(np.asarray(sync.bias.grad) - np.asarray(ref.bias.grad)))))
    worst["stats"] = max(worst["stats"], float(np.max(np.abs(sync.running_mean.numpy() - ref.running_mean.numpy()))),
                         float(np.max(np.abs(sync.running_var.numpy() - ref.running_var.numpy()))))
sync.eval(), ref.eval()
worst["eval"] = float(np.max(np.abs(sync(xpgrad.tensor(X[0])).numpy() - ref(xpgrad.tensor(X[0])).numpy())))
worst["moved"] = float(np.max(np.abs(ref.running_var.numpy() - 1.0)))

# A compiled step replays the collectives (statistics, backward sums, gradient averaging) every call.
import warnings
def trained(compiled):
    xpgrad.manual_seed(0)
    m = dist.convert_sync_batchnorm(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1)))
    o = dist.DistributedOptimizer(xpgrad.optimizer("momentum", m.parameters(), lr=0.1, momentum=0.9))
    def step(x):
        o.zero_grad()
        loss = (m(x) ** 2).mean()
        loss.backward()
        o.set_batch(hi - lo)
        o.step()
        return loss
    run = xpgrad.compile(step) if compiled else step
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to eager
        for k in range(2):
            for j in range(2):
                run(xpgrad.tensor(X[k, lo:hi] + j))
    return np.concatenate([p.numpy().ravel() for p in m.parameters()])
worst["compiled"] = float(np.max(np.abs(trained(False) - trained(True))))
report(worst)
'''


def test_sync_batchnorm_matches_batchnorm_on_the_whole_batch(mpirun):
    values = mpirun(SYNC_BN, 2).results
    for v in values.values():
        assert v["moved"] > 0.1  # the running statistics did change, so comparing them means something
        for key in ("y", "x", "w", "b", "stats", "eval", "compiled"):
            assert v[key] <= 1e-12, (key, v[key])
