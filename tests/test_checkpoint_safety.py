"""Checkpoints never lose data: checksums, refusing NaN weights, all-or-nothing loads, stale temp files."""

import json
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.atomic import STALE_AFTER_S, remove_stale_temps, write_atomic
from xpgrad.checkpoint import CheckpointError, load, save


def _setup(seed=0, hidden=8):
    xpgrad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 3))
    opt = xpgrad.optimizer("adam", model.parameters(), lr=1e-2)
    sched = xpgrad.schedule("cosine", opt, total_steps=40)
    X, y = xpgrad.data.spiral(20, 3, seed=seed)
    xpgrad.fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), 2, batch_size=20, schedule=sched, progress=False)
    return model, opt, sched


def _host(x):
    """A deep host copy of a state (tensors and arrays become NumPy arrays)."""
    if isinstance(x, xpgrad.Tensor):
        return x.numpy().copy()
    if isinstance(x, np.ndarray) or xpgrad.backend.is_array(x):
        return np.array(xpgrad.as_tensor(x).numpy(), copy=True)
    if isinstance(x, dict):
        return {k: _host(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_host(v) for v in x]
    return x


def _equal(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _everything(model, opt, sched):
    return (_host(model.state_dict()), _host(opt.state_dict()), _host(sched.state_dict()),
            xpgrad.backend.current().rng_state())


@pytest.fixture
def objs(tmp_path):
    """A file of one run, and fresh objects of another run (another seed) to load it into."""
    model, opt, sched = _setup(0)
    path = save(tmp_path / "good.safetensors", model=model, optimizer=opt, schedule=sched, epoch=2)
    fresh = _setup(5)
    xpgrad.manual_seed(123)
    return path, fresh


def _tensor_offsets(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    return raw, 8 + n, {k: v["data_offsets"] for k, v in header.items() if k != "__metadata__"}


# -- checksums ------------------------------------------------------------------------------------


def _names(path):
    return sorted(_tensor_offsets(path)[2])


def test_checksums_cover_every_tensor(objs):
    path, _ = objs
    raw, _, offsets = _tensor_offsets(path)
    (n,) = struct.unpack("<Q", raw[:8])
    sums = json.loads(json.loads(raw[8:8 + n])["__metadata__"]["checksums"])
    assert set(sums) == set(offsets) | {"__metadata__"} and len(sums) > 10
    assert all(v.startswith("crc32:") for v in sums.values())


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_a_flipped_bit_in_any_tensor_is_refused_naming_it_and_nothing_changes(tmp_path, objs, which):
    path, fresh = objs
    raw, start, offsets = _tensor_offsets(path)
    names = [k for k in sorted(offsets) if offsets[k][1] > offsets[k][0]]
    for name in names:  # every tensor of the file, each in its own copy
        lo, hi = offsets[name]
        pos = start + {"first": lo, "middle": (lo + hi) // 2, "last": hi - 1}[which]
        _refused_after_flip(tmp_path / "flipped.safetensors", raw, pos, 0x40, fresh,
                            rf"flipped\.safetensors.*corrupted.*tensor '{name}'.*checksum")


def _refused_after_flip(broken, raw, pos, mask, fresh, pattern):
    """Write ``raw`` with byte ``pos`` xor ``mask`` to ``broken``: loading it must fail and change nothing."""
    bad = bytearray(raw)
    bad[pos] ^= mask
    broken.write_bytes(bytes(bad))
    before = _everything(*fresh)
    with pytest.raises(CheckpointError, match=pattern):
        load(broken, model=fresh[0], optimizer=fresh[1], schedule=fresh[2])
    assert all(_equal(a, b) for a, b in zip(before, _everything(*fresh), strict=True))


def _rewrite_metadata(path, out, change):
    from safetensors.numpy import load_file, save_file

    raw, _, _ = _tensor_offsets(path)
    (n,) = struct.unpack("<Q", raw[:8])
    metadata = json.loads(raw[8:8 + n])["__metadata__"]
    change(metadata)
    save_file(load_file(str(path)), str(out), metadata=metadata)
    return out


def test_a_changed_hyperparameter_in_the_metadata_is_refused(tmp_path, objs):
    path, fresh = objs
    raw = open(path, "rb").read()
    at = raw.index(b'\\"lr\\": ')  # inside the JSON text of the state: the optimizer's learning rate
    # one digit of the number changes, the JSON stays valid
    _refused_after_flip(tmp_path / "lr.safetensors", raw, at + 8, 0x01, fresh,
                        r"lr\.safetensors.*corrupted: its state/meta metadata")


def test_a_flipped_bit_anywhere_in_the_header_is_refused_or_harmless(tmp_path, objs):
    path, fresh = objs
    raw, start, _ = _tensor_offsets(path)
    model = _setup(0)[0]
    want = _host(model.state_dict())
    for pos in range(8, start, max(1, (start - 8) // 300)):  # about 300 bytes of the JSON header
        bad = bytearray(raw)
        bad[pos] ^= 1 << (pos % 8)
        broken = tmp_path / "h.safetensors"
        broken.write_bytes(bytes(bad))
        target = _setup(5)[0]
        before = _host(target.state_dict())
        try:
            load(broken, model=target)
        except CheckpointError:
            assert _equal(before, _host(target.state_dict())), pos
        else:  # the flip hit something that does not matter (e.g. a name load does not use): the data is right
            assert _equal(want, _host(target.state_dict())), pos


def test_files_without_checksums_still_load(tmp_path, objs):
    path, fresh = objs
    old = _rewrite_metadata(path, tmp_path / "old.safetensors", lambda m: m.pop("checksums"))
    assert load(old, model=fresh[0], optimizer=fresh[1], schedule=fresh[2]) == {"epoch": 2}


@pytest.mark.parametrize("change", [
    lambda m: m.update(checksums=json.dumps({k: v for k, v in json.loads(m["checksums"]).items()
                                             if k != "model/0.bias"})),
    lambda m: m.update(checksums=json.dumps({**json.loads(m["checksums"]), "ghost": "crc32:00000000"})),
    lambda m: m.update(checksums=json.dumps(["not", "a", "table"])),
    lambda m: m.update(checksums="{not json"),
], ids=["one-missing", "one-extra", "not-a-table", "not-json"])
def test_a_damaged_checksum_table_is_refused(tmp_path, objs, change):
    path, fresh = objs
    bad = _rewrite_metadata(path, tmp_path / "bad.safetensors", change)
    before = _everything(*fresh)
    with pytest.raises(CheckpointError, match=r"bad\.safetensors.*damaged"):
        load(bad, model=fresh[0], optimizer=fresh[1], schedule=fresh[2])
    assert all(_equal(a, b) for a, b in zip(before, _everything(*fresh), strict=True))


# -- no NaN/inf weights on disk -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["0.weight", "0.bias", "1.weight", "1.running_var", "3.weight"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_save_refuses_non_finite_model_weights_and_keeps_the_good_file(tmp_path, key, value):
    model, opt, sched = _setup(0)
    path = save(tmp_path / "ckpt.safetensors", model=model, optimizer=opt, epoch=1)
    good = open(path, "rb").read()
    t = model.state_dict()[key]
    arr = t.numpy().copy()
    arr.reshape(-1)[1] = value
    _put(model, key, arr)
    with pytest.raises(CheckpointError, match=rf"refusing to save .*ckpt\.safetensors.*NaN or infinite.*"
                                              rf"{key} \(1 of {arr.size} values\).*learning rate"):
        save(path, model=model, optimizer=opt, epoch=2)
    assert open(path, "rb").read() == good
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temp file either
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        save(tmp_path / "new.safetensors", model=model)
    assert not (tmp_path / "new.safetensors").exists()


def _put(model, key, arr):
    """Set one state-dict entry through the public API (load_state_dict with strict=False)."""
    model.load_state_dict({key: arr}, strict=False)


def test_finite_models_with_integer_buffers_and_empty_tensors_save(tmp_path):
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("steps", xpgrad.tensor(np.array([3], dtype=np.int64)))
            self.register_buffer("empty", xpgrad.zeros((0,)))

    a, b = Counter(), Counter()
    load(save(tmp_path / "c.safetensors", model=a), model=b)
    assert b.steps.numpy().tolist() == [3] and b.steps.numpy().dtype == np.int64


# -- all or nothing --------------------------------------------------------------------------------------


def _wrap(obj, name, fn):
    real = getattr(obj, name)
    setattr(obj, name, lambda *a, **k: fn(real, *a, **k))


def _after_real(exc):
    calls = []

    def fn(real, state):
        real(state)  # changes the object, then fails, as a load_state_dict that validates too late would
        calls.append(1)
        if len(calls) == 1:  # the load fails; restoring the snapshot afterwards works
            raise exc

    return fn


@pytest.mark.parametrize("part", ["model", "optimizer", "schedule"])
def test_a_part_that_fails_after_changing_itself_is_restored_with_the_others(objs, part):
    path, fresh = objs
    obj = dict(zip(("model", "optimizer", "schedule"), fresh, strict=True))[part]
    _wrap(obj, "load_state_dict", _after_real(RuntimeError("refused late")))
    before = _everything(*fresh)
    with pytest.raises(CheckpointError, match="nothing was changed: RuntimeError: refused late"):
        load(path, model=fresh[0], optimizer=fresh[1], schedule=fresh[2])
    assert all(_equal(a, b) for a, b in zip(before, _everything(*fresh), strict=True))


def test_a_failing_generator_restore_rolls_back_every_part(objs, monkeypatch):
    path, fresh = objs
    b = xpgrad.backend.current()
    real = type(b).set_rng_state
    calls = []

    def flaky(self, state):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("generator refuses")
        return real(self, state)

    monkeypatch.setattr(type(b), "set_rng_state", flaky)
    before = _everything(*fresh)
    with pytest.raises(CheckpointError, match="nothing was changed: RuntimeError: generator refuses"):
        load(path, model=fresh[0], optimizer=fresh[1], schedule=fresh[2])
    assert all(_equal(a, c) for a, c in zip(before, _everything(*fresh), strict=True))


def test_when_restoring_fails_too_the_error_says_so(objs):
    path, fresh = objs
    model, opt, sched = fresh
    calls = []

    def opt_load(real, state):  # the load goes through; restoring the snapshot afterwards fails
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("cannot restore the optimizer")
        real(state)

    _wrap(opt, "load_state_dict", opt_load)
    _wrap(sched, "load_state_dict", _after_real(RuntimeError("schedule refuses")))
    with pytest.raises(CheckpointError) as info:
        load(path, model=model, optimizer=opt, schedule=sched)
    msg = str(info.value)
    assert "nothing was changed" not in msg
    assert "schedule refuses" in msg and "restoring the previous state failed" in msg
    assert "optimizer" in msg and "cannot restore the optimizer" in msg and "partly changed" in msg


def test_keyboard_interrupt_during_a_load_restores_and_propagates(objs):
    path, fresh = objs
    _wrap(fresh[1], "load_state_dict", _after_real(KeyboardInterrupt()))
    before = _everything(*fresh)
    with pytest.raises(KeyboardInterrupt):
        load(path, model=fresh[0], optimizer=fresh[1], schedule=fresh[2])
    assert all(_equal(a, b) for a, b in zip(before, _everything(*fresh), strict=True))


def test_a_model_entry_of_a_lossy_dtype_is_refused_before_anything_changes(tmp_path, objs):
    from safetensors.numpy import load_file

    path, fresh = objs
    tensors = load_file(str(path))
    tensors["model/0.weight"] = tensors["model/0.weight"].astype(np.complex64)

    def change(m):
        sums = json.loads(m["checksums"])
        from xpgrad.checkpoint_checks import checksum

        sums["model/0.weight"] = checksum(tensors["model/0.weight"])
        m["checksums"] = json.dumps(sums)

    raw, _, _ = _tensor_offsets(path)
    (n,) = struct.unpack("<Q", raw[:8])
    metadata = json.loads(raw[8:8 + n])["__metadata__"]
    change(metadata)
    from safetensors.numpy import save_file

    bad = tmp_path / "complex.safetensors"
    save_file(tensors, str(bad), metadata=metadata)
    before = _everything(*fresh)
    with pytest.raises(CheckpointError, match=r"(?s)nothing was changed.*wrong dtype for '0\.weight'.*complex64"):
        load(bad, model=fresh[0], optimizer=fresh[1], schedule=fresh[2])
    assert all(_equal(a, b) for a, b in zip(before, _everything(*fresh), strict=True))


# -- temporary files of killed writers -----------------------------------------------------------------


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def _temp(tmp_path, target, tag):
    p = tmp_path / f".{target}.{tag}.tmp"
    p.write_bytes(b"x" * 1000)
    return p


@pytest.mark.skipif(os.name != "posix", reason="dead writers are recognised by pid on POSIX only")
@pytest.mark.parametrize("how", ["save", "load", "write_atomic"])
def test_the_next_save_or_load_removes_temp_files_of_dead_writers_only(tmp_path, how):
    from xpgrad.atomic import _HOST

    target = "ckpt.safetensors"
    path = save(tmp_path / target, model=nn.Linear(2, 2))
    dead = _temp(tmp_path, target, f"{_HOST}-{_dead_pid()}-0000abcd")
    old_style = _temp(tmp_path, target, "0123abcd")  # an earlier xpgrad's name, without a pid
    os.utime(old_style, (time.time() - STALE_AFTER_S - 60,) * 2)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _temp(tmp_path, target, f"{_HOST}-{sleeper.pid}-0000abcd")
        mine = _temp(tmp_path, target, f"{_HOST}-{os.getpid()}-0000abcd")  # another thread of this process
        fresh_old_style = _temp(tmp_path, target, "4567abcd")
        other_host = _temp(tmp_path, target, f"ffffffff-{_dead_pid()}-0000abcd")
        other_target = _temp(tmp_path, "other.safetensors", f"{_HOST}-{_dead_pid()}-0000abcd")
        if how == "save":
            save(path, model=nn.Linear(2, 2))
        elif how == "load":
            load(path, model=nn.Linear(2, 2))
        else:
            write_atomic(path, open(path, "rb").read())
        assert not dead.exists() and not old_style.exists()
        assert live.exists() and mine.exists() and fresh_old_style.exists() and other_host.exists()
        assert other_target.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    os.utime(other_host, (time.time() - STALE_AFTER_S - 60,) * 2)
    assert sorted(remove_stale_temps(path)) == sorted([str(other_host), str(live)])  # the sleeper is dead now
    assert mine.exists() and fresh_old_style.exists() and other_target.exists()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_writers_killed_mid_save_leave_nothing_after_the_next_save(tmp_path):
    writer = tmp_path / "writer.py"
    writer.write_text("import os, sys, time\nimport xpgrad\nfrom xpgrad import nn\n"
                      "real = os.fsync\n"
                      "def hang(fd):\n    real(fd); print('in-fsync', flush=True); time.sleep(60)\n"
                      "os.fsync = hang\nxpgrad.save(sys.argv[1], model=nn.Linear(2, 300))\n")
    path = tmp_path / "ckpt.safetensors"
    save(path, model=nn.Linear(2, 3))
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(writer), str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "in-fsync"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    # each writer removed the leftover of the one killed before it, so one is left, not three
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) == 1
    save(path, model=nn.Linear(2, 3))
    assert sorted(n for n in os.listdir(tmp_path) if n != "writer.py") == ["ckpt.safetensors"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_cleanup_in_a_read_only_folder_never_fails_a_load(tmp_path):
    from xpgrad.atomic import _HOST

    path = save(tmp_path / "c.safetensors", model=nn.Linear(2, 2))
    stale = _temp(tmp_path, "c.safetensors", f"{_HOST}-{_dead_pid()}-0000abcd")
    os.chmod(tmp_path, 0o555)
    try:
        load(path, model=nn.Linear(2, 2))
        assert stale.exists()
    finally:
        os.chmod(tmp_path, 0o755)
