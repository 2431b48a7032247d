"""fit in a data-parallel job: the sharding of batches (in-process), and under ``mpiexec`` the equivalence with
the 1-process run (weights and History, SGD with momentum and Adam, uneven and empty shards, 2 and 3 ranks),
bit-identical ranks, per-rank random streams, stopping together on NaN, and a failing rank aborting the job."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.data import DataLoader
from xpgrad.data.loader import shard_range
from xpgrad.train import fit
from xpgrad.train.loop import _epoch

_spec = importlib.util.spec_from_file_location("xpgrad_mpi_support", Path(__file__).with_name("mpi_support.py"))
mpi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mpi)
MPIEXEC = mpi.MPIEXEC


# -- sharding, in-process -------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 32])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_range_cuts_a_batch_into_contiguous_pieces_differing_by_at_most_one(n, world):
    pieces = [shard_range(n, r, world) for r in range(world)]
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    sizes = [hi - lo for lo, hi in pieces]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_shard_range_examples_and_errors():
    assert [shard_range(5, r, 3) for r in range(3)] == [(0, 2), (2, 4), (4, 5)]
    assert shard_range(1, 1, 2) == (1, 1)  # a rank may get nothing of a tiny batch
    with pytest.raises(ValueError, match="rank 2 is out of range for world_size 2"):
        shard_range(4, 2, 2)
    with pytest.raises(ValueError, match="world_size must be an integer >= 1, got 0"):
        shard_range(4, 0, 0)
    with pytest.raises(ValueError, match=r"n \(rows of the batch\) must be a non-negative integer, got -1"):
        shard_range(-1, 0, 1)
    with pytest.raises(ValueError, match="rank must be an integer >= 0, got True"):
        DataLoader(np.zeros((2, 1)), [0, 1]).batches(rank=True, world_size=2)


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("batch_size", [1, 4, 7])
def test_the_ranks_shares_make_up_the_1_process_batches(world, batch_size):
    X, y = np.arange(22.0).reshape(11, 2), np.arange(11)
    loader = DataLoader(X, y, batch_size, shuffle=True, seed=5)
    whole = [yb.tolist() for _, yb in DataLoader(X, y, batch_size, shuffle=True, seed=5)]
    shares = []
    for r in range(world):
        loader.load_state_dict(DataLoader(X, y, batch_size, shuffle=True, seed=5).state_dict())  # same order
        shares.append([yb.tolist() for _, yb in loader.batches(rank=r, world_size=world)])
    assert all(len(s) == len(whole) for s in shares)  # the same number of steps on every rank
    for i, batch in enumerate(whole):
        assert sum((s[i] for s in shares), []) == batch


def test_a_shuffled_pass_draws_its_order_when_it_starts():
    xpgrad.manual_seed(3)
    loader = DataLoader(np.zeros((6, 1)), np.arange(6), 2, shuffle=True)
    b = xpgrad.backend.current()
    before = b.rng_state()["state"]
    loader.batches()  # no batch taken yet
    assert b.rng_state()["state"] != before


def test_other_iterables_are_sliced_per_rank():
    class Ranks:
        rank, size = 1, 3

    batches = [(np.zeros((5, 2)), np.arange(5)), (np.zeros((2, 2)), np.arange(2))]
    got = [yb.tolist() for _, yb in _epoch(batches, "float64", "train_data", Ranks())]
    assert got == [[2, 3], [1]]


# -- a job of one: nothing changes ------------------------------------------------------------------

def test_fit_in_a_job_of_one_accepts_a_distributed_optimizer_and_matches_the_plain_run():
    import xpgrad.distributed as dist

    X = np.random.default_rng(0).normal(size=(24, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    weights = []
    for wrap in (False, True):
        xpgrad.manual_seed(1)
        model = nn.Linear(3, 2)
        opt = xpgrad.optimizer("adam", model.parameters(), lr=0.05)
        h = fit(model, xpgrad.loss("cross_entropy"), dist.DistributedOptimizer(opt) if wrap else opt, (X, y), 2,
                batch_size=5, progress=False)
        weights.append((model.weight.numpy().copy(), h.loss))
    np.testing.assert_array_equal(weights[0][0], weights[1][0])
    assert weights[0][1] == weights[1][1]


def test_a_checkpoint_of_a_distributed_optimizer_loads_into_the_plain_one(tmp_path):
    import xpgrad.distributed as dist

    model = nn.Linear(2, 2)
    opt = xpgrad.optimizer("momentum", model.parameters(), lr=0.1, momentum=0.9)
    model(xpgrad.ones((3, 2))).sum().backward()
    wrapped = dist.DistributedOptimizer(opt)
    wrapped.step()
    path = xpgrad.save(str(tmp_path / "c.safetensors"), model=model, optimizer=wrapped)
    fresh = xpgrad.optimizer("momentum", nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    xpgrad.load(path, optimizer=fresh)
    xpgrad.load(path, optimizer=dist.DistributedOptimizer(fresh))  # and back into a wrapped one
    with pytest.raises(xpgrad.checkpoint.CheckpointError, match="holds the optimizer state of a Momentum, but a Adam"):
        xpgrad.load(path, optimizer=xpgrad.optimizer("adam", nn.Linear(2, 2).parameters()))


# -- under mpiexec ----------------------------------------------------------------------------------

def run_ranks(n: int | None, command: list[str], cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """``command`` on ``n`` ranks of this environment's mpiexec (n None: a plain process); killed after timeout."""
    full = command if n is None else [str(MPIEXEC), "-n", str(n), *command]
    code, out, err = mpi.launch(full, cwd, timeout)
    return subprocess.CompletedProcess(full, code, out, err)


# One script for every case: trains on the spiral in float64 and writes rank r's weights, History and
# check figures to result<r>.json. Its arguments: optimizer, batch size, epochs, extras (comma-separated).
TRAIN = textwrap.dedent('''
    import json, sys
    import numpy as np
    import xpgrad, xpgrad.distributed as dist
    from xpgrad import data, nn
    from xpgrad.train import Callback, NonFiniteLossError, fit

    dist.init()
    name, batch, epochs, extras = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")
    xpgrad.set_default_dtype("float64")
    xpgrad.manual_seed(0)
    X, y = data.spiral(10, 3, seed=0)
    Xv, yv = data.spiral(4, 3, seed=1)
    layers = [nn.Linear(2, 12), nn.Activation("tanh"), nn.Linear(12, 3)]
    if "dropout" in extras:
        layers.insert(2, nn.Dropout(0.5))
    model = nn.Sequential(*layers)
    kw = {"momentum": 0.9} if name == "momentum" else {}
    if "nan" in extras:  # one sample of the data is NaN: only the rank whose share holds it sees it
        X[17, 0] = float("nan")
    opt = xpgrad.optimizer(name, model.parameters(), lr=0.05, **kw)
    sched = xpgrad.schedule("cosine", opt, total_steps=200)
    streams = {}

    class Streams(Callback):  # the generator state inside the steps (per rank) and between epochs (shared)
        def on_step_end(self, state):
            streams.setdefault("step", str(xpgrad.backend.current().rng_state()["state"]))
            if "fail" in extras and dist.rank() == 1 and state.step == 3:
                raise RuntimeError("rank 1 fails on purpose")
        def on_epoch_end(self, state):
            streams.setdefault("epoch", str(xpgrad.backend.current().rng_state()["state"]))

    out = {"rank": dist.rank(), "size": dist.world_size()}
    try:
        h = fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), epochs, batch_size=batch, schedule=sched,
                regularizer=xpgrad.regularizer("l2", 1e-3), val_data=(Xv, yv), progress=False,
                callbacks=[Streams()], compile="compile" in extras)
        out["history"] = {k: v for k, v in h.to_dict().items() if k != "time"}
    except NonFiniteLossError as e:
        out["error"] = [e.epoch, e.step, str(e)]
    out["in_sync"] = dist.check_in_sync(model)
    out["weights"] = {k: np.asarray(v.numpy()).tolist() for k, v in model.state_dict().items()}
    out["streams"] = dist.all_gather_object(streams) if dist.world_size() > 1 else [streams]
    with open(f"result{dist.rank()}.json", "w") as f:
        json.dump(out, f)
''')


def _train(tmp_path: Path, n: int | None, *args: str, timeout: float = 60.0) -> list[dict]:
    folder = tmp_path / f"run{n}-{'-'.join(args).replace(',', '_')}"
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN)
    done = run_ranks(n, [sys.executable, "train.py", *args], folder, timeout)
    assert done.returncode == 0, done.stderr
    return [json.loads((folder / f"result{r}.json").read_text()) for r in range(n or 1)]


def _assert_same_run(a: dict, b: dict, tol: float = 1e-10) -> None:
    for k in a["weights"]:
        np.testing.assert_allclose(np.array(b["weights"][k]), np.array(a["weights"][k]), rtol=0, atol=tol, err_msg=k)
    assert a["history"].keys() == b["history"].keys()
    for k in a["history"]:
        np.testing.assert_allclose(b["history"][k], a["history"][k], rtol=0, atol=tol, err_msg=k)


@pytest.mark.parametrize(("name", "batch", "ranks"), [
    ("momentum", "7", 2),   # 30 samples: batches of 7 (last 2), shards of 4/3 and 1/1
    ("adam", "7", 3),       # shards 3/2/2, last batch 1/1/0: a rank with nothing still steps
    ("adam", "2", 3),       # every step one rank has an empty share
])
@pytest.mark.mpi
def test_n_ranks_give_the_1_process_weights_and_history(tmp_path, name, batch, ranks):
    single = _train(tmp_path, None, name, batch, "3", "")[0]
    results = _train(tmp_path, ranks, name, batch, "3", "")
    assert [r["size"] for r in results] == [ranks] * ranks
    for r in results:
        assert r["in_sync"]
        _assert_same_run(single, r)
    assert all(r["weights"] == results[0]["weights"] for r in results)  # bit-identical ranks
    assert single["history"]["loss"][-1] < single["history"]["loss"][0]


@pytest.mark.mpi
def test_a_compiled_step_gives_the_same_run_on_2_ranks(tmp_path):
    single = _train(tmp_path, None, "momentum", "7", "2", "compile")[0]
    results = _train(tmp_path, 2, "momentum", "7", "2", "compile")
    for r in results:
        _assert_same_run(single, r)


@pytest.mark.mpi
def test_dropout_draws_per_rank_streams_and_the_data_order_stays_shared(tmp_path):
    results = _train(tmp_path, 2, "adam", "6", "2", "dropout")
    streams = results[0]["streams"]
    assert streams[0]["step"] != streams[1]["step"]  # inside the steps: each rank's own stream
    assert streams[0]["epoch"] == streams[1]["epoch"]  # between epochs: the shared one (checkpoints save it)
    assert all(r["in_sync"] for r in results)
    assert results[0]["weights"] == results[1]["weights"]


@pytest.mark.mpi
def test_a_nan_loss_stops_every_rank_at_the_step_of_the_1_process_run(tmp_path):
    single = _train(tmp_path, None, "sgd", "7", "3", "nan")[0]
    results = _train(tmp_path, 3, "sgd", "7", "3", "nan")
    assert "error" in single
    for r in results:
        assert r["error"][:2] == single["error"][:2]
        assert "all 3 ranks stop together" in r["error"][2]
        assert r["in_sync"] and all(np.isfinite(np.array(w)).all() for w in r["weights"].values())
    for k in single["weights"]:  # the bad update was applied nowhere
        np.testing.assert_allclose(np.array(results[0]["weights"][k]), np.array(single["weights"][k]), rtol=0,
                                   atol=1e-10)


@pytest.mark.mpi
def test_a_rank_that_fails_aborts_the_whole_job(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    done = run_ranks(2, [sys.executable, "train.py", "adam", "4", "50", "fail"], tmp_path, timeout=30)
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr
    assert not (tmp_path / "result0.json").exists()  # rank 0 did not finish the 50 epochs
