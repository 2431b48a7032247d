"""Collectives, broadcasts, the sync check, the abort hook and the launcher check under a real ``mpiexec``."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.mpi

COLLECTIVES = '''
import numpy as np, xpgrad
from xpgrad import nn
size = dist.init()
r = dist.rank()
out = {"size": size, "again": dist.init(), "main": dist.is_main()}
out["local"] = [dist.local_rank(), dist.local_world_size()]
a = np.full(3, r + 1.0)
out["host"] = dist.all_reduce(a).tolist()
out["max"] = dist.all_reduce(np.array([r, -r], dtype=np.int64), op="max").tolist()
t = xpgrad.tensor([r + 0.5])
out["tensor"] = [dist.all_reduce(t) is t] + t.tolist()
s = xpgrad.tensor([1.0, r], backend="array_api_strict")
out["strict"] = dist.all_reduce(s).tolist()
out["numbers"] = dist.all_reduce_numbers([1, r], op="sum")
out["bcast"] = dist.broadcast_object({"from": r}, root=1)
out["gather"] = dist.all_gather_object(r * 10)

xpgrad.manual_seed(100 + r)  # every rank initializes differently
model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
model[1].running_mean.data[...] = r
try:
    dist.check_in_sync(model)
except RuntimeError as exc:
    out["unsynced"] = str(exc)
dist.broadcast_parameters(model, root=2)
out["synced"] = dist.check_in_sync(model)
out["running_mean"] = model[1].running_mean.tolist()

opt = xpgrad.optimizer("momentum", model.parameters(), lr=0.1, momentum=0.9)
if r == 2:  # only the root has stepped: a momentum buffer to send
    model(xpgrad.randn(5, 3)).sum().backward()
    opt.step()
dist.broadcast_optimizer_state(opt, root=2)
state = opt.state_dict()["state"]
out["velocity"] = [round(float(v), 12) for st in state.values() for v in np.asarray(st["velocity"]).ravel()]

other = nn.Linear(3, 4 if r != 1 else 5)  # rank 1 built a different model
try:
    dist.broadcast_parameters(other)
except RuntimeError as exc:
    out["mismatch"] = str(exc)
with xpgrad.use_backend("array_api_strict"):  # in place through DLPack views of the strict arrays
    xpgrad.manual_seed(r)
    strict_model = nn.Linear(2, 2)
    dist.broadcast_parameters(strict_model, root=0)
    out["strict_synced"] = dist.check_in_sync(strict_model)

import os
from threadpoolctl import threadpool_info
out["threads"] = [sorted({i["num_threads"] for i in threadpool_info()}), len(os.sched_getaffinity(0))]
dist.barrier()
report(out)
'''


def test_collectives_broadcasts_and_sync_check(mpirun):
    # no OMP_NUM_THREADS/OPENBLAS_NUM_THREADS: init() itself limits BLAS threads to cores // local ranks
    run = mpirun(COLLECTIVES, 3, OMP_NUM_THREADS=None, OPENBLAS_NUM_THREADS=None, MKL_NUM_THREADS=None)
    values = run.results
    for r, v in values.items():
        assert (v["size"], v["again"], v["main"]) == (3, 3, r == 0)
        assert v["local"] == [r, 3]
        assert v["host"] == [6.0, 6.0, 6.0]
        assert v["max"] == [2, 0]
        assert v["tensor"] == [True, 4.5]
        assert v["strict"] == [3.0, 3.0]
        assert v["numbers"] == [3.0, 3.0]
        assert v["bcast"] == {"from": 1}
        assert v["gather"] == [0, 10, 20]
        assert "ranks out of sync" in v["unsynced"] and "'0.weight' (ranks 1, 2)" in v["unsynced"]
        assert "'1.running_mean' (ranks 1, 2)" in v["unsynced"]
        assert v["synced"] is True and v["running_mean"] == [2.0] * 4
        assert len(v["velocity"]) == 3 * 4 + 4 + 4 + 4 and any(v["velocity"])
        assert v["mismatch"].startswith("broadcast_parameters failed on 1 of 3 rank(s): rank 1:")
        assert "'weight' has shape (5, 3)" in v["mismatch"] and "the root's has shape (4, 3)" in v["mismatch"]
        assert v["strict_synced"] is True
        threads, cores = v["threads"]
        assert threads == [max(1, cores // 3)]
    assert values[0]["velocity"] == values[1]["velocity"] == values[2]["velocity"]


ABORT = '''
import time
dist.init()
if dist.rank() == 1:
    time.sleep(0.5)
    raise ValueError("rank one fails on purpose")
dist.barrier()  # rank 0 waits here forever unless the job is aborted
print("rank 0 passed the barrier", flush=True)
'''


def test_a_failing_rank_aborts_the_job(mpirun):
    start = time.monotonic()
    run = mpirun(ABORT, 2, timeout=30, ok=False)
    assert run.returncode != 0
    assert time.monotonic() - start < 30
    assert "[xpgrad rank 1/2] ValueError: rank one fails on purpose" in run.stderr
    assert "aborting the whole job" in run.stderr
    assert "rank 0 passed the barrier" not in run.stdout


def test_a_foreign_launcher_is_refused(plain_python):
    """A launcher announcing 2 ranks while MPI sees 1 (another MPI's mpiexec) must not run N lone copies."""
    status, out, err = plain_python("import xpgrad.distributed as d; d.init()", PMI_SIZE="2", PMI_RANK="0")
    assert status != 0, out
    assert "the launcher announced 2 ranks but MPI sees 1" in err
    assert "bin/mpiexec (the mpiexec next to" in err


DEVICE_PATH = '''
import warnings
import xpgrad
from xpgrad.distributed import launch
dist.init()
r = dist.rank()
strict = xpgrad.backend.resolve("array_api_strict")
strict.on_host = False  # stands in for a GPU backend: device arrays take the NCCL-or-staged path
xp = strict.xp
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    a = xp.asarray([1.0 + r, 2.0], dtype=xp.float64, device=xp.Device(f"device{r + 1}"))  # one "GPU" per rank
    out["staged"] = [dist.all_reduce(a) is a, strict.to_numpy(a.to_device(xp.Device("CPU_DEVICE"))).tolist(),
                     str(a.device)]
out["warnings"] = [str(w.message) for w in caught]
launch.STATE.comm, launch.STATE.nccl_failed = "nccl", ""  # as after init(comm="nccl")
try:
    dist.all_reduce(xp.asarray([1.0], dtype=xp.float64, device=xp.Device("device1")))  # both on one "GPU"
except RuntimeError as exc:
    out["error"] = str(exc)
report(out)
'''


def test_device_arrays_fall_back_to_host_staging(mpirun):
    values = mpirun(DEVICE_PATH, 2).results
    for r, v in values.items():
        assert v["staged"] == [True, [3.0, 4.0], f"array_api_strict.Device('device{r + 1}')"]
        if r == 0:  # said once, by rank 0
            assert len(v["warnings"]) == 1 and "NCCL is not used" in v["warnings"][0]
            assert "has no NCCL communicator" in v["warnings"][0]
        else:
            assert v["warnings"] == []
        assert "comm='nccl' was asked for but NCCL cannot be used: two or more ranks use the same GPU" in v["error"]
