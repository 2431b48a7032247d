"""Dataset files outside their documented format are refused naming the file; blobs' validation fits training."""

import gzip
import io
import pickle
import re
import struct

import numpy as np
import pytest

from xpgrad.cli import main
from xpgrad.data import blobs, files, load_cifar10, load_mnist, read_cifar10_batch, read_idx
from xpgrad.data.files import DatasetError, UnsafePickleError


def _idx(array, type_byte=0x08):
    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _mnist(tmp_path, images=None, labels=None):
    rng = np.random.default_rng(0)
    images = _idx(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)) if images is None else images
    labels = _idx(rng.integers(0, 10, 20, dtype=np.uint8)) if labels is None else labels
    (tmp_path / "train-images-idx3-ubyte").write_bytes(images)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)


GOOD_LABELS = _idx(np.arange(10, dtype=np.uint8))
IDX_CASES = {
    "wrong magic": (b"\x01\x02\x08\x01" + GOOD_LABELS[4:], r"is not an IDX file"),
    "unknown type byte": (b"\x00\x00\x07\x01" + GOOD_LABELS[4:], r"is not an IDX file"),
    "empty": (b"", r"is not an IDX file"),
    "header cut short": (bytes([0, 0, 8, 3, 0, 0]), r"declares 3 dimensions .* truncated"),
    "data cut short": (GOOD_LABELS[:-3], r"promises shape \(10,\) .* truncated"),
    "bytes left over": (GOOD_LABELS + b"\x00", r"promises shape \(10,\) .* truncated or corrupt"),
    "huge sizes": (bytes([0, 0, 8, 4]) + b"\xff\xff\xff\xff" * 4 + b"\x00" * 8, r"promises shape .* truncated"),
    "damaged gzip": (b"\x1f\x8b\x08\x00garbage", r"damaged gzip file"),
}


@pytest.mark.parametrize("case", list(IDX_CASES))
def test_read_idx_refuses_files_outside_the_format(tmp_path, case):
    blob, match = IDX_CASES[case]
    path = tmp_path / "t-idx1-ubyte"
    path.write_bytes(blob)
    with pytest.raises(DatasetError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)  # older code catching ValueError still works


def test_read_idx_refuses_a_directory(tmp_path):
    with pytest.raises(DatasetError, match=rf"{re.escape(str(tmp_path))} is a directory"):
        read_idx(tmp_path)


def test_read_idx_reads_gzip_and_every_type(tmp_path):
    for type_byte, dtype in ((0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                             (0x0D, np.float32), (0x0E, np.float64)):
        a = np.arange(6, dtype=dtype).reshape(2, 3)
        path = tmp_path / f"a{type_byte}.gz"
        path.write_bytes(gzip.compress(_idx(a, type_byte)))
        got = read_idx(path)
        assert got.dtype == dtype and np.array_equal(got, a)


MNIST_CASES = {
    "label 10": (None, _idx(np.array([1, 2, 10, 3] * 5, dtype=np.uint8)), r"label 10 at position 2 is outside 0 … 9"),
    "label -1 (signed bytes)": (None, _idx(np.array([-1] * 20, dtype=np.int8), 0x09),
                                r"MNIST stores unsigned bytes .* int8"),
    "float images": (_idx(np.full((20, 28, 28), 300.0, dtype=np.float32), 0x0D), None, r"unsigned bytes .* float32"),
    "images of 2 dims": (_idx(np.zeros((20, 784), dtype=np.uint8)), None, r"in 3 dimension\(s\)"),
    "counts differ": (_idx(np.zeros((19, 28, 28), dtype=np.uint8)), None, r"19 images but 20 labels"),
    "truncated images": (_idx(np.zeros((20, 28, 28), dtype=np.uint8))[:-100], None, r"truncated"),
}


@pytest.mark.parametrize("case", list(MNIST_CASES))
def test_load_mnist_refuses_values_outside_the_range(tmp_path, case):
    images, labels, match = MNIST_CASES[case]
    _mnist(tmp_path, images, labels)
    with pytest.raises(DatasetError, match=match) as info:
        load_mnist(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_cli_names_the_truncated_mnist_file(capsys, tmp_path):
    _mnist(tmp_path, images=_idx(np.zeros((20, 28, 28), dtype=np.uint8))[:-5])
    assert main(["train", "--quiet", "--dataset", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--dataset mnist:" in err and str(tmp_path / "train-images-idx3-ubyte") in err


# -- CIFAR-10 ------------------------------------------------------------------------------------------

class _Forged:
    """Pickles as NumPy's array rebuilder called with arguments ``args`` and state ``state``."""

    def __init__(self, state, args=(np.ndarray, (0,), b"b")):
        self.state, self.args = state, args

    def __reduce__(self):
        return np.zeros(1).__reduce__()[0], self.args, self.state


class _ForgedDtype:
    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return np.dtype, ("u1", False, True), self.state


u1 = np.dtype("u1")
FORGED = {
    "state of the wrong length": _Forged((9,)),
    "raw data not bytes": _Forged((1, (2,), u1, False, 12345)),
    "buffer larger than the shape": _Forged((1, (2,), u1, False, b"abcdef")),
    "negative dimension": _Forged((1, (-1,), u1, False, b"ab")),
    "shape too big": _Forged((1, (2,), u1, False, b"ab"), (np.ndarray, (2**62, 2**62), b"b")),
    "unknown type code": _Forged((1, (2,), u1, False, b"ab"), (np.ndarray, (0,), b"zz")),
}
FORGED_DTYPES = {  # rebuilt without complaint, broken when used: refused as data that is not a uint8 array
    "dtype fields missing": _ForgedDtype((3, "|", None, ("a", "b"), {"a": (u1, 0)}, -1, -1, 0)),
    "dtype field not a tuple": _ForgedDtype((3, "|", None, ("a",), {"a": 1}, -1, -1, 0)),
}


@pytest.mark.parametrize("case", list(FORGED_DTYPES))
@pytest.mark.parametrize("key", ["data", "labels"])
def test_forged_dtypes_are_dataset_errors(tmp_path, case, key):
    path = tmp_path / "data_batch_1"
    batch = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], key: FORGED_DTYPES[case]}
    path.write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(DatasetError) as info:
        read_cifar10_batch(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("case", list(FORGED))
def test_forged_cifar_pickles_are_unsafe_pickle_errors(tmp_path, case):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": FORGED[case], "labels": [0]}, protocol=4))
    with pytest.raises(UnsafePickleError) as info:
        read_cifar10_batch(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, pickle.UnpicklingError) and isinstance(info.value, DatasetError)


def test_numpy_system_error_while_unpickling_is_an_unsafe_pickle_error(tmp_path, monkeypatch):
    def crash(*args):
        raise SystemError("error return without exception set")

    for key in list(files._ALLOWED):
        if key[1] == "_reconstruct":
            monkeypatch.setitem(files._ALLOWED, key, crash)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0]}, protocol=4))
    with pytest.raises(UnsafePickleError, match=r"data_batch_1: .*SystemError: error return"):
        read_cifar10_batch(path)


def _batch(**overrides):
    rng = np.random.default_rng(0)
    batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 9]}
    batch.update(overrides)
    return pickle.dumps(batch, protocol=4)


BAD_BATCHES = {
    "truncated": (_batch()[:-50], DatasetError, r"truncated or damaged"),
    "not a pickle": (b"hello", DatasetError, r"not a readable CIFAR-10 batch"),
    "a list": (pickle.dumps([1, 2]), DatasetError, r"expected a dict"),
    "no labels": (pickle.dumps({"data": np.zeros((1, 3072), np.uint8)}), DatasetError, r"needs keys"),
    "label 10": (_batch(labels=[0, 1, 10, 2]), DatasetError, r"label 10 at position 2 is outside 0 … 9"),
    "label -3": (_batch(labels=[0, -3, 1, 2]), DatasetError, r"label -3 at position 1"),
    "float labels": (_batch(labels=[0.5, 1, 2, 3]), DatasetError, r"integer labels, got float64"),
    "ragged labels": (_batch(labels=[[0], [1, 2], 3, 4]), DatasetError, r"not arrays|integer labels"),
    "too few labels": (_batch(labels=[0, 1]), DatasetError, r"expected 4 integer labels"),
    "float data": (_batch(data=np.zeros((4, 3072))), DatasetError, r"expected uint8 data .* float64"),
    "wrong width": (_batch(data=np.zeros((4, 100), np.uint8)), DatasetError, r"shape \(N, 3072\)"),
    "a code object": (b"cos\nsystem\n(S'true'\ntR.", UnsafePickleError, r"refusing to load os.system"),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_cifar_batches_name_the_file(tmp_path, case):
    blob, error, match = BAD_BATCHES[case]
    path = tmp_path / "data_batch_1"
    path.write_bytes(blob)
    with pytest.raises(error, match=match) as info:
        read_cifar10_batch(path)
    assert str(path) in str(info.value)


def test_cli_refuses_a_forged_cifar_batch_in_one_line(capsys, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for k in range(1, 6):
        (folder / f"data_batch_{k}").write_bytes(_batch())
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": FORGED["negative dimension"], "labels": [0]},
                                                       protocol=4))
    assert main(["train", "--quiet", "--dataset", "cifar10", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder / "data_batch_3") in err
    with pytest.raises(UnsafePickleError, match="data_batch_3"):
        load_cifar10(tmp_path)


def test_a_good_cifar_batch_still_loads(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(_batch())
    data, labels = read_cifar10_batch(path)
    assert data.shape == (4, 3072) and labels.tolist() == [0, 1, 2, 9] and labels.dtype == np.int64
    legacy = io.BytesIO()
    pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [3]}, legacy, protocol=4)  # Python 2's keys
    path.write_bytes(legacy.getvalue())
    assert read_cifar10_batch(path)[1].tolist() == [3]


# -- blobs: one problem, two draws -----------------------------------------------------------------------

def test_blobs_validation_set_shares_the_training_centres():
    X, y = blobs(200, 3, seed=0)
    Xv, yv = blobs(200, 3, seed=1, center_seed=0)
    Xo, _ = blobs(200, 3, seed=1)
    for k in range(3):
        train_mean, val_mean = X[y == k].mean(0), Xv[yv == k].mean(0)
        assert np.abs(train_mean - val_mean).max() < 0.5
    assert not np.allclose(X, Xv)  # other points
    assert np.abs(X[y == 0].mean(0) - Xo[:200].mean(0)).max() > 0.5  # seed alone: another problem
    assert np.array_equal(blobs(10, 3, seed=4)[0], blobs(10, 3, seed=4)[0])  # still reproducible


@pytest.mark.parametrize("box", [(1.0,), ("a", "b"), (5.0, -5.0), (0.0, float("inf")), None])
def test_blobs_refuses_a_bad_center_box(box):
    with pytest.raises(ValueError, match=r"blobs: center_box"):
        blobs(10, 2, center_box=box)


def test_cli_blobs_validation_accuracy(capsys):
    assert main(["train", "--quiet", "--dataset", "blobs", "--epochs", "20"]) == 0
    out = capsys.readouterr().out
    train_acc, val_acc = map(float, re.search(r"train accuracy: (\S+)  val accuracy: (\S+)", out).groups())
    assert train_acc > 0.9 and val_acc > 0.9
