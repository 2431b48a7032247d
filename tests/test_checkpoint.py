"""Checkpoints: round trips, exact resume, atomic writes (killing a writer), and refusing bad files."""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.checkpoint import CheckpointError, load, read_metadata, save, write_atomic


def _net(hidden=8, seed=0):
    xpgrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def _params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)


def _spiral(n=30, seed=1):
    return xpgrad.data.spiral(n, 3, seed=seed)


def _setup(backend_name, hidden=8):
    model = _net(hidden)
    opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
    sched = xpgrad.schedule("cosine", opt, total_steps=40)
    return model, opt, sched


# -- round trips ----------------------------------------------------------------------------


def test_model_round_trip_and_meta(tmp_path, cpu_backend):
    a, b = _net(seed=1), _net(seed=2)
    assert not _same(_params(a), _params(b))
    path = save(tmp_path / "m.safetensors", model=a, epoch=3, note="hi", lrs=[0.1, 0.01])
    meta = load(path, model=b)
    assert meta == {"epoch": 3, "note": "hi", "lrs": [0.1, 0.01]}
    assert _same(_params(a), _params(b))
    assert b.state_dict()["0.weight"].backend == cpu_backend
    assert read_metadata(path)["epoch"] == 3


def test_optimizer_and_schedule_state_round_trip(tmp_path, cpu_backend):
    model, opt, sched = _setup(cpu_backend)
    X, y = _spiral()
    xpgrad.fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), 2, batch_size=30, schedule=sched, progress=False)
    path = save(tmp_path / "c.safetensors", model=model, optimizer=opt, schedule=sched)
    m2, o2, s2 = _setup(cpu_backend)
    load(path, model=m2, optimizer=o2, schedule=s2)
    assert s2.get_last_lr() == sched.get_last_lr()
    assert o2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    sa, sb = opt.state_dict(), o2.state_dict()
    assert json.dumps(sa, default=lambda v: np.asarray(xpgrad.backend.to_numpy(getattr(v, "data", v))).tolist()) \
        == json.dumps(sb, default=lambda v: np.asarray(xpgrad.backend.to_numpy(getattr(v, "data", v))).tolist())


def test_meta_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        save(tmp_path / "x.safetensors", model=_net(), bad=object())
    assert not os.listdir(tmp_path)


def test_file_is_plain_safetensors_without_pickle(tmp_path):
    from safetensors.numpy import load_file

    path = save(tmp_path / "c.safetensors", model=_net())
    tensors = load_file(path)
    assert set(tensors) == {"model/0.weight", "model/0.bias", "model/2.weight", "model/2.bias"}
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    assert meta["format"] == "xpgrad-checkpoint"
    json.loads(meta["state"])  # everything else is JSON


# -- exact resume -----------------------------------------------------------------------------


def test_resume_with_dropout_and_batchnorm_is_bit_exact(tmp_path):
    """Buffers (running statistics) and dropout masks (drawn from the generator) continue exactly too."""
    data = _spiral()

    def setup():
        model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
        opt = xpgrad.optimizer("momentum", model.parameters(), lr=0.05)
        return model, opt, xpgrad.schedule("linear", opt, total_steps=40)

    xpgrad.manual_seed(8)
    m1, o1, s1 = setup()
    _train(m1, o1, s1, data, 4)
    xpgrad.manual_seed(8)
    m2, o2, s2 = setup()
    _train(m2, o2, s2, data, 2)
    path = save(tmp_path / "bn.safetensors", model=m2, optimizer=o2, schedule=s2, epoch=2)
    xpgrad.manual_seed(0)
    m3, o3, s3 = setup()
    _train(m3, o3, s3, data, 2, start=load(path, model=m3, optimizer=o3, schedule=s3)["epoch"])
    assert any("running" in k for k in _params(m1))
    assert _same(_params(m1), _params(m3))


def _train(model, opt, sched, data, epochs, start=0):
    return xpgrad.fit(model, xpgrad.loss("cross_entropy"), opt, data, epochs, batch_size=16, schedule=sched,
                      regularizer=xpgrad.regularizer("l2", 1e-3), progress=False, start_epoch=start)


def test_resume_is_bit_exact(tmp_path, cpu_backend):
    """2N epochs in one go == N epochs, save, load into fresh objects (fresh RNG), N more."""
    data = _spiral()
    m1, o1, s1 = _setup(cpu_backend)
    xpgrad.manual_seed(123)
    _train(m1, o1, s1, data, 4)

    m2, o2, s2 = _setup(cpu_backend)
    xpgrad.manual_seed(123)
    _train(m2, o2, s2, data, 2)
    path = save(tmp_path / "half.safetensors", model=m2, optimizer=o2, schedule=s2, epoch=2)

    m3, o3, s3 = _setup(cpu_backend)
    xpgrad.manual_seed(999)  # a different generator state, which load must overwrite
    meta = load(path, model=m3, optimizer=o3, schedule=s3)
    h = _train(m3, o3, s3, data, 2, start=meta["epoch"])
    assert h.epoch == [3, 4]
    assert _same(_params(m1), _params(m3))
    assert s1.get_last_lr() == s3.get_last_lr()


def test_load_restores_rng_state(tmp_path):
    xpgrad.manual_seed(5)
    b = xpgrad.backend.current()
    b.permutation(10)
    path = save(tmp_path / "rng.safetensors")
    expected = b.permutation(10)
    b.permutation(10)
    load(path)
    assert np.array_equal(b.permutation(10), expected)
    load(path, restore_rng=False)  # the generator goes on from where it is
    assert not np.array_equal(b.permutation(10), expected)


# -- refusing bad files, changing nothing -----------------------------------------------------------


@pytest.fixture
def good(tmp_path):
    model, opt, sched = _setup("numpy")
    return save(tmp_path / "good.safetensors", model=model, optimizer=opt, schedule=sched, epoch=1)


def _assert_unchanged(fn, model, opt, sched):
    before = (_params(model), opt.param_groups[0]["lr"], sched.state_dict())
    rng_before = xpgrad.backend.current().rng_state()
    fn()
    assert _same(before[0], _params(model))
    assert opt.param_groups[0]["lr"] == before[1]
    assert sched.state_dict() == before[2]
    assert xpgrad.backend.current().rng_state() == rng_before


@pytest.mark.parametrize("cut", [0, 5, 8, 100, -1])
def test_truncated_file_raises_and_changes_nothing(tmp_path, good, cut):
    raw = open(good, "rb").read()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(raw[:cut] if cut >= 0 else raw[:len(raw) - 7])
    model, opt, sched = _setup("numpy", hidden=8)
    xpgrad.manual_seed(77)
    opt.param_groups[0]["lr"] = 0.5

    def go():
        with pytest.raises(CheckpointError, match="truncated|not an xpgrad|damaged"):
            load(bad, model=model, optimizer=opt, schedule=sched)

    _assert_unchanged(go, model, opt, sched)


def test_foreign_files_are_refused(tmp_path):
    from safetensors.numpy import save_file

    other = tmp_path / "other.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(other), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not an xpgrad checkpoint"):
        load(other, model=_net())
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a safetensors file|truncated"):
        load(text, model=_net())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "missing.safetensors", model=_net())


def test_different_model_is_refused_and_nothing_changes(good):
    model, opt, sched = _setup("numpy", hidden=5)

    def go():
        with pytest.raises(CheckpointError, match=r"different model.*0\.weight.*\(8, 2\)"):
            load(good, model=model, optimizer=opt, schedule=sched)

    _assert_unchanged(go, model, opt, sched)
    deeper = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU(), nn.Linear(3, 3))
    with pytest.raises(CheckpointError, match="not in the model: .*|missing in the file: 4.bias"):
        load(good, model=deeper)


def test_other_optimizer_class_is_refused_before_touching_the_model(good):
    model, _, sched = _setup("numpy")
    xpgrad.manual_seed(3)
    model = _net(seed=3)
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.1)

    def go():
        with pytest.raises(CheckpointError, match="optimizer state of a"):
            load(good, model=model, optimizer=opt)

    _assert_unchanged(go, model, opt, sched)


def test_missing_part_is_refused(tmp_path):
    path = save(tmp_path / "m.safetensors", model=_net())
    opt = xpgrad.optimizer("sgd", _net().parameters(), lr=0.1)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load(path, optimizer=opt)


def test_failure_inside_load_state_dict_rolls_back(good):
    model, opt, sched = _setup("numpy")
    xpgrad.manual_seed(4)
    model = _net(seed=4)
    opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
    sched = xpgrad.schedule("cosine", opt, total_steps=40)

    def boom(state):
        raise RuntimeError("schedule refuses")

    sched.load_state_dict = boom  # fails after the model and optimizer were already restored

    def go():
        with pytest.raises(CheckpointError, match="nothing was changed.*schedule refuses"):
            load(good, model=model, optimizer=opt, schedule=sched)

    _assert_unchanged(go, model, opt, sched)


# -- atomic writes ------------------------------------------------------------------------------------


def test_write_atomic_replaces_and_keeps_mode(tmp_path):
    p = tmp_path / "f.bin"
    write_atomic(p, b"one")
    write_atomic(p, b"two")
    assert p.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert (os.stat(p).st_mode & 0o777) == (0o666 & ~umask)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_atomic(tmp_path / "no" / "f.bin", b"x")


_WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import xpgrad
    from xpgrad import nn
    from xpgrad.checkpoint import save
    path, mode = sys.argv[1], sys.argv[2]
    xpgrad.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 400), nn.ReLU(), nn.Linear(400, 3))
    if mode == "hang":
        real = os.fsync
        def hang(fd):
            real(fd)
            print("in-fsync", flush=True)
            time.sleep(60)
        os.fsync = hang
        save(path, model=model, epoch=99)
    else:
        print("looping", flush=True)
        i = 0
        while True:
            i += 1
            save(path, model=model, epoch=i)
""")


def _writer(tmp_path, path, mode):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    return subprocess.Popen([sys.executable, str(script), str(path), mode], stdout=subprocess.PIPE, text=True)


def test_killed_writer_leaves_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    model = _net()
    save(path, model=model, epoch=1)
    before = path.read_bytes()
    proc = _writer(tmp_path, path, "hang")
    try:
        assert proc.stdout.readline().strip() == "in-fsync"  # the new file is written, not yet renamed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert path.read_bytes() == before
    fresh = _net(seed=9)
    assert load(path, model=fresh)["epoch"] == 1
    assert _same(_params(model), _params(fresh))


def test_writer_killed_at_a_random_moment_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save(path, model=nn.Sequential(nn.Linear(2, 400), nn.ReLU(), nn.Linear(400, 3)), epoch=0)
    proc = _writer(tmp_path, path, "loop")
    try:
        assert proc.stdout.readline().strip() == "looping"
        deadline = time.monotonic() + 30
        # Readers during the rewrites always see a complete file; then kill the writer wherever it is.
        while read_metadata(path)["epoch"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    model = nn.Sequential(nn.Linear(2, 400), nn.ReLU(), nn.Linear(400, 3))
    assert isinstance(load(path, model=model)["epoch"], int)


# -- format versions: files written before nn.Linear took PyTorch's (out, in) layout -------------------


def _rewrite_as_version_1(path, out, transposed):
    """Rewrite checkpoint ``path`` as the version-1 code wrote it: the named arrays (in, out), version "1"."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(path)
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    metadata = json.loads(raw[8:8 + n])["__metadata__"]
    state = json.loads(metadata["state"])
    for name in transposed:
        tensors[name] = np.ascontiguousarray(tensors[name].T)
    layout = state["parts"]["model"]["layout"]
    for key in layout:
        if f"model/{key}" in transposed:
            layout[key][0] = layout[key][0][::-1]
    metadata.update(format_version="1", state=json.dumps(state))
    save_file(tensors, str(out), metadata=metadata)
    return out


def test_new_files_have_format_version_2(tmp_path):
    path = save(tmp_path / "v2.safetensors", model=_net())
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert json.loads(raw[8:8 + n])["__metadata__"]["format_version"] == "2"


def test_version_1_checkpoint_is_converted_on_load(tmp_path, cpu_backend):
    """Linear weights and their Adam moments, stored (in, out) by version 1, load transposed; training resumes."""
    model, opt, sched = _setup(cpu_backend, hidden=6)
    X, y = _spiral()
    loss = xpgrad.loss("cross_entropy")
    xpgrad.fit(model, loss, opt, (X, y), 2, batch_size=30, schedule=sched, progress=False)
    new = save(tmp_path / "new.safetensors", model=model, optimizer=opt, schedule=sched, epoch=2)
    weights = ["model/0.weight", "model/2.weight"]
    moments = [f"optimizer/state/{i}/{m}" for i in (0, 2) for m in ("exp_avg", "exp_avg_sq")]
    from safetensors.numpy import load_file

    assert set(moments) <= set(load_file(new))  # the names this test relies on
    old = _rewrite_as_version_1(new, tmp_path / "old.safetensors", weights + moments)
    assert load_file(old)["model/0.weight"].shape == (2, 6)  # as version 1 stored it
    resumed = []
    for path in (new, old):
        m2, o2, s2 = _setup(cpu_backend, hidden=6)
        assert load(path, model=m2, optimizer=o2, schedule=s2) == {"epoch": 2}
        assert _same(_params(model), _params(m2))
        for p, q in zip(model.parameters(), o2.param_groups[0]["params"], strict=True):
            for key in ("exp_avg", "exp_avg_sq"):
                np.testing.assert_array_equal(xpgrad.backend.to_numpy(opt.state[id(p)][key]),
                                              xpgrad.backend.to_numpy(o2.state[id(q)][key]))
        xpgrad.fit(m2, loss, o2, (X, y), 1, batch_size=30, schedule=s2, progress=False)  # same RNG state each time
        resumed.append(_params(m2))
    assert _same(*resumed)


def test_version_1_maxout_and_square_weights_are_converted(tmp_path):
    xpgrad.manual_seed(4)
    model = nn.Sequential(nn.Maxout(3, 2, pieces=2), nn.Linear(2, 2))  # (4, 3) and a square (2, 2)
    new = save(tmp_path / "new.safetensors", model=model)
    old = _rewrite_as_version_1(new, tmp_path / "old.safetensors", ["model/0.weight", "model/1.weight"])
    fresh = nn.Sequential(nn.Maxout(3, 2, pieces=2), nn.Linear(2, 2))
    load(old, model=fresh)
    assert _same(_params(model), _params(fresh))
    x = xpgrad.randn(5, 3)
    np.testing.assert_array_equal(model(x).numpy(), fresh(x).numpy())


def test_version_1_optimizer_without_its_model_is_refused(tmp_path):
    model = _net()
    opt = xpgrad.optimizer("momentum", model.parameters(), lr=0.1)
    model(xpgrad.ones((2, 2))).sum().backward()
    opt.step()
    new = save(tmp_path / "new.safetensors", model=model, optimizer=opt)
    old = _rewrite_as_version_1(new, tmp_path / "old.safetensors", ["model/0.weight", "model/2.weight"])
    with pytest.raises(CheckpointError, match=r"old\.safetensors.*format version 1.*model=model, optimizer="):
        load(old, optimizer=xpgrad.optimizer("momentum", _net().parameters(), lr=0.1))


def test_unknown_format_version_is_refused(tmp_path):
    from safetensors.numpy import save_file

    future = tmp_path / "future.safetensors"
    save_file({"model/w": np.zeros(2, np.float32)}, str(future),
              metadata={"format": "xpgrad-checkpoint", "format_version": "99", "state": "{}", "meta": "{}"})
    with pytest.raises(CheckpointError, match=r"future\.safetensors.*version '99'.*reads versions 1, 2"):
        load(future, model=_net())
