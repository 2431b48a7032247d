"""Datasets and minibatches: generated data, MNIST/CIFAR-10 readers on files written here, DataLoader."""

import collections
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.error

import numpy as np
import pytest

import xpgrad
from xpgrad import backend as B
from xpgrad import data
from xpgrad.data import DataLoader, files
from xpgrad.data.loader import as_batch

# -- generated datasets ---------------------------------------------------------------------------


def _linear_fit_accuracy(X, y):
    """Training accuracy of the best least-squares linear classifier (one-vs-rest on [X, 1])."""
    A = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
    T = np.eye(y.max() + 1)[y]
    W, *_ = np.linalg.lstsq(A, T, rcond=None)
    return float(((A @ W).argmax(1) == y).mean())


def test_spiral_shape_labels_and_range():
    X, y = data.spiral(100, 3, noise=0.2, seed=0)
    assert X.shape == (300, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1.0 + 1e-6 and radius.min() == 0.0
    X2, y2 = data.spiral(100, 3, noise=0.2, seed=0)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, data.spiral(100, 3, seed=1)[0])
    assert data.spiral(10, 5)[0].shape == (50, 2)


def test_spiral_is_not_linearly_separable_but_blobs_are():
    X, y = data.spiral(100, 3)
    assert _linear_fit_accuracy(X, y) < 0.65
    Xb, yb = data.blobs(100, 3, std=1.0, seed=0)
    assert _linear_fit_accuracy(Xb, yb) > 0.9


def test_blobs_shapes_and_errors():
    X, y = data.blobs(20, classes=4, features=5, seed=3)
    assert X.shape == (80, 5) and X.dtype == np.float32 and y.tolist() == sorted(y.tolist())
    for bad in [lambda: data.spiral(0), lambda: data.spiral(10, noise=-1.0), lambda: data.blobs(5, classes=1.5),
                lambda: data.blobs(5, std=-1.0)]:
        with pytest.raises(ValueError):
            bad()


# -- MNIST -------------------------------------------------------------------------------------------


def _idx_bytes(array):
    codes = {np.uint8: 0x08, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path, blob, compress):
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(blob)
    else:
        path.write_bytes(blob)


def _write_mnist(root, train=True, n=5, compress=False, rows=28):
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, size=(n, rows, rows), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if train else "t10k"
    _write(root / f"{prefix}-images-idx3-ubyte", _idx_bytes(images), compress)
    _write(root / f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels), compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_reads_idx_files(tmp_path, compress, train):
    images, labels = _write_mnist(tmp_path, train=train, compress=compress)
    X, y = data.load_mnist(tmp_path, train=train)
    assert X.shape == (5, 784) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, images.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    X3, _ = data.load_mnist(tmp_path, train=train, flatten=False)
    assert X3.shape == (5, 28, 28)


def test_mnist_in_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_mnist(raw, compress=True)
    assert data.load_mnist(tmp_path)[0].shape == (5, 784)


def test_read_idx_other_dtypes_and_corruption(tmp_path):
    a = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    (tmp_path / "a").write_bytes(_idx_bytes(a))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), a)
    (tmp_path / "short").write_bytes(_idx_bytes(a)[:-2])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "short")
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "junk")
    (tmp_path / "badgz").write_bytes(gzip.compress(_idx_bytes(a))[:-5])
    with pytest.raises(ValueError, match="damaged gzip"):
        data.read_idx(tmp_path / "badgz")


def test_mnist_mismatched_counts(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match="do not match"):
        data.load_mnist(tmp_path)


def test_mnist_missing_files_are_named(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((1, 2, 2), np.uint8)))
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_mnist(tmp_path)
    msg = str(info.value)
    assert "train-labels-idx1-ubyte" in msg and str(tmp_path) in msg and "download=True" in msg
    assert "train-images" not in msg.split("missing")[1].split(".")[0]
    assert isinstance(info.value, FileNotFoundError)


def test_mnist_download_without_network_names_the_file(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(files.urllib.request, "urlopen", offline)
    with pytest.raises(data.DatasetNotFoundError, match="t10k-images-idx3-ubyte.gz.*network"):
        data.load_mnist(tmp_path, train=False, download=True)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_mnist_download_checks_md5_and_then_loads(tmp_path, monkeypatch):
    served = {}
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        arr = np.zeros((3, 4, 4), np.uint8) if "images" in name else np.array([1, 2, 3], np.uint8)
        served[name + ".gz"] = gzip.compress(_idx_bytes(arr))
    monkeypatch.setattr(files.urllib.request, "urlopen",
                        lambda url, timeout=None: io.BytesIO(served[url.rsplit("/")[-1]]))
    with pytest.raises(data.DatasetNotFoundError, match="checksum mismatch"):
        data.load_mnist(tmp_path, train=False, download=True)
    monkeypatch.setattr(files, "MNIST_MD5", {k: hashlib.md5(v).hexdigest() for k, v in served.items()})
    X, y = data.load_mnist(tmp_path, train=False, download=True)
    assert X.shape == (3, 16) and y.tolist() == [1, 2, 3]


# -- CIFAR-10 -----------------------------------------------------------------------------------------


class _Py2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, as in the real CIFAR-10 batches (pickled by Python 2)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _batch(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), rng.integers(0, 10, size=n).tolist()


def _py2_pickle(obj):
    buf = io.BytesIO()
    _Py2StylePickler(buf, protocol=2).dump(obj)
    # NumPy 2 names its module numpy._core; the real files (NumPy 1, Python 2) say numpy.core.
    return buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def _write_cifar(folder, style="py2", n=3):
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        pixels, labels = _batch(n, i)
        written[name] = (pixels, labels)
        if style == "py2":
            blob = _py2_pickle({b"batch_label": b"training batch", b"labels": labels, b"data": pixels,
                                b"filenames": [b"img.png"] * n})
        else:
            blob = pickle.dumps({"batch_label": "x", "labels": labels, "data": pixels}, protocol=4)
        (folder / name).write_bytes(blob)
    return written


@pytest.mark.parametrize("style", ["py2", "protocol4"])
def test_cifar10_reads_python_batches(tmp_path, style):
    written = _write_cifar(tmp_path / "cifar-10-batches-py", style)
    X, y = data.load_cifar10(tmp_path)
    assert X.shape == (15, 3072) and X.dtype == np.float32 and y.dtype == np.int64
    want = np.concatenate([written[f"data_batch_{k}"][0] for k in range(1, 6)]) / 255.0
    np.testing.assert_allclose(X, want, rtol=1e-6)
    assert y.tolist() == sum((written[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    Xt, yt = data.load_cifar10(tmp_path, train=False, flatten=False)
    assert Xt.shape == (3, 3, 32, 32) and yt.tolist() == written["test_batch"][1]
    np.testing.assert_allclose(Xt[1, 2].ravel(), written["test_batch"][0][1, 2048:] / 255.0, rtol=1e-6)


def test_cifar10_batches_directly_in_root(tmp_path):
    _write_cifar(tmp_path)
    assert data.load_cifar10(tmp_path, train=False)[0].shape == (3, 3072)


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": Evil(), "labels": []}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|nt|os)\.system"):
        data.load_cifar10(tmp_path, train=False)
    assert not marker.exists()


def test_object_arrays_and_other_globals_are_refused(tmp_path):
    (tmp_path / "obj").write_bytes(_py2_pickle({b"data": np.array([1, 2], dtype=object)}))
    with pytest.raises(pickle.UnpicklingError, match="dtype 'O'"):
        data.read_cifar10_batch(tmp_path / "obj")
    (tmp_path / "od").write_bytes(pickle.dumps({"data": collections.OrderedDict()}, protocol=4))
    with pytest.raises(data.UnsafePickleError, match="collections.OrderedDict"):
        data.read_cifar10_batch(tmp_path / "od")


def test_cifar10_wrong_layout_is_reported(tmp_path):
    (tmp_path / "list").write_bytes(pickle.dumps([1, 2], protocol=4))
    with pytest.raises(ValueError, match="expected a dict"):
        data.read_cifar10_batch(tmp_path / "list")
    (tmp_path / "keys").write_bytes(pickle.dumps({"pixels": 1}, protocol=4))
    with pytest.raises(ValueError, match="'data' and 'labels'"):
        data.read_cifar10_batch(tmp_path / "keys")
    (tmp_path / "shape").write_bytes(pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]}, protocol=4))
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        data.read_cifar10_batch(tmp_path / "shape")
    (tmp_path / "trunc").write_bytes(_py2_pickle({b"data": _batch(2, 0)[0], b"labels": [0, 1]})[:100])
    with pytest.raises(ValueError, match="not a readable CIFAR-10 batch"):
        data.read_cifar10_batch(tmp_path / "trunc")


def test_cifar10_missing_files_are_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"")
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_cifar10(tmp_path)
    msg = str(info.value)
    assert "data_batch_2" in msg and "data_batch_5" in msg and "data_batch_1," not in msg and str(folder) in msg


def _tarball(tmp_path, extra=None):
    src = tmp_path / "src"
    _write_cifar(src / "cifar-10-batches-py")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        if extra is not None:
            info = tarfile.TarInfo(extra)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


def test_cifar10_download_extracts_the_archive(tmp_path, monkeypatch):
    blob = _tarball(tmp_path)
    monkeypatch.setattr(files.urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(blob))
    monkeypatch.setattr(files, "CIFAR10_MD5", hashlib.md5(blob).hexdigest())
    root = tmp_path / "root"
    X, y = data.load_cifar10(root, download=True)
    assert X.shape == (15, 3072) and (root / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar10_archive_escaping_root_is_refused(tmp_path, monkeypatch):
    blob = _tarball(tmp_path, extra="../escape.txt")
    monkeypatch.setattr(files.urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(blob))
    monkeypatch.setattr(files, "CIFAR10_MD5", hashlib.md5(blob).hexdigest())
    with pytest.raises(ValueError, match="refusing to extract '../escape.txt'"):
        data.load_cifar10(tmp_path / "root", download=True)
    assert not (tmp_path / "escape.txt").exists()


# -- DataLoader ---------------------------------------------------------------------------------------


def _xy(n=10):
    return np.arange(2 * n, dtype=np.float64).reshape(n, 2), np.arange(n) % 3


def test_batches_in_order_with_last_partial_batch(backend):
    X, y = _xy()
    loader = DataLoader(X, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert all(xb.backend == backend and yb.backend == backend for xb, yb in batches)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), X)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)


def test_drop_last_and_full_batch():
    X, y = _xy()
    loader = DataLoader(X, y, batch_size=4, drop_last=True)
    assert len(loader) == 2 and [b[0].shape[0] for b in loader] == [4, 4]
    assert [b[0].shape for b in DataLoader(X, y)] == [(10, 2)]
    assert len(DataLoader(X, y, batch_size=5, drop_last=True)) == 2


def test_dtypes_follow_the_default_dtype(cpu_backend):
    X, y = _xy()
    xb, yb = next(iter(DataLoader(X, y.astype(np.int32), batch_size=3)))
    assert str(xb.dtype).endswith("float32") and str(yb.dtype).endswith("int64")
    xpgrad.set_default_dtype("float64")
    xb, _ = next(iter(DataLoader(X.astype(np.float32), y, batch_size=3)))
    assert str(xb.dtype).endswith("float64")


def test_shuffle_visits_every_row_once_and_follows_manual_seed(backend):
    X, y = _xy(23)
    loader = DataLoader(X, y, batch_size=5, shuffle=True)

    def order():
        return np.concatenate([xb.numpy()[:, 0] for xb, _ in loader]) / 2

    xpgrad.manual_seed(3)
    first, second = order(), order()
    assert sorted(first.tolist()) == list(range(23)) and not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(23))
    xpgrad.manual_seed(3)
    np.testing.assert_array_equal(order(), first)
    for xb, yb in loader:  # rows stay paired with their labels
        np.testing.assert_array_equal(yb.numpy(), (xb.numpy()[:, 0] / 2).astype(int) % 3)


def test_shuffle_with_own_seed_ignores_the_global_generator():
    X, y = _xy(12)

    def epochs(loader):
        return [np.concatenate([yb.numpy() for _, yb in loader]).tolist() for _ in range(2)]

    xpgrad.manual_seed(1)
    a = epochs(DataLoader(X, np.arange(12), batch_size=4, shuffle=True, seed=9))
    xpgrad.manual_seed(2)
    b = epochs(DataLoader(X, np.arange(12), batch_size=4, shuffle=True, seed=9))
    assert a == b and a[0] != a[1]


def test_seeded_loader_state_resumes_the_order():
    X, y = _xy(12)
    loader = DataLoader(X, np.arange(12), batch_size=12, shuffle=True, seed=4)
    list(loader)
    state = loader.state_dict()
    want = next(iter(loader))[1].tolist()
    fresh = DataLoader(X, np.arange(12), batch_size=12, shuffle=True, seed=4)
    fresh.load_state_dict(state)
    assert next(iter(fresh))[1].tolist() == want
    assert DataLoader(X, y, shuffle=True).state_dict() == {}


def test_global_generator_state_resumes_the_order():
    X, y = _xy(12)
    loader = DataLoader(X, np.arange(12), batch_size=12, shuffle=True)
    b = xpgrad.backend.current()
    state = b.rng_state()
    want = next(iter(loader))[1].tolist()
    b.set_rng_state(state)
    assert next(iter(loader))[1].tolist() == want


def test_tensors_and_backend_arrays_are_accepted(cpu_backend):
    X = xpgrad.randn(6, 3)
    y = xpgrad.tensor([0, 1, 2, 0, 1, 2])
    xb, yb = next(iter(DataLoader(X, y, batch_size=6)))
    np.testing.assert_array_equal(xb.numpy(), X.numpy())
    strict = X.to("array_api_strict").data
    with xpgrad.use_backend("numpy"):
        xb, _ = next(iter(DataLoader(strict, y, batch_size=2)))
    assert xb.backend == "numpy"


def test_loader_follows_a_backend_change():
    X, y = _xy()
    loader = DataLoader(X, y, batch_size=5)
    assert next(iter(loader))[0].backend == "numpy"
    with xpgrad.use_backend("array_api_strict"):
        assert next(iter(loader))[0].backend == "array_api_strict"


def test_loader_errors():
    X, y = _xy()
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        DataLoader(X, y[:9])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(X, y, batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(X, y, seed=-1)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(X[:0], y[:0])
    with pytest.raises(ValueError, match="scalar"):
        DataLoader(np.float64(1.0), y)
    assert "batch_size=10" in repr(DataLoader(X, y))


def test_dtype_argument_and_batches_override(cpu_backend):
    X, y = _xy()
    loader = DataLoader(X.astype(np.float32), y.astype(np.int16), batch_size=4, dtype="float64")
    xb, yb = next(iter(loader))
    assert B.dtype_name(xb.dtype) == "float64" and B.dtype_name(yb.dtype) == "int64"
    np.testing.assert_array_equal(xb.numpy(), X[:4])
    xb, _ = next(loader.batches("float32"))  # what fit does with the model's dtype
    assert B.dtype_name(xb.dtype) == "float32"
    assert B.dtype_name(next(iter(loader))[0].dtype) == "float64"  # the cache follows the dtype back
    onehot = np.eye(3)[y]
    _, yb = next(DataLoader(X, onehot, batch_size=2, dtype=np.float64).batches())
    assert B.dtype_name(yb.dtype) == "float64" and yb.shape == (2, 3)  # float targets follow the float rule
    with pytest.raises(ValueError, match="float dtype.*'int32'"):
        DataLoader(X, y, dtype="int32")


def test_converted_data_is_kept_between_passes():
    X, y = _xy()
    loader = DataLoader(X, y, batch_size=10)
    first, second = next(iter(loader))[0], next(iter(loader))[0]
    assert first.data.base is not None and first.data.base is second.data.base  # views of one converted copy
    same = DataLoader(X.astype(np.float32), y, batch_size=10)
    assert next(iter(same))[0].data.base is same.X  # already float32 NumPy: no copy at all


def test_as_batch_applies_the_same_rule(cpu_backend):
    xb, yb = as_batch(np.ones((3, 2)), [1, 0, 2], dtype="float64")
    assert xb.backend == cpu_backend and B.dtype_name(xb.dtype) == "float64" and B.dtype_name(yb.dtype) == "int64"
    mask = as_batch(np.ones((2, 2), dtype=np.float32), np.array([True, False]))[1]
    assert B.dtype_name(mask.dtype) == "bool"
    with pytest.raises(ValueError, match=r"x of shape \(3, 2\) and y of shape \(2,\).*one row per sample"):
        as_batch(np.ones((3, 2)), np.zeros(2))
