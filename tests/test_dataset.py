"""Datasets: TensorDataset indexing, Subset, random_split (sizes, disjointness, seeds), DataLoader and fit."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.data import DataLoader, Dataset, Subset, TensorDataset, random_split

X = np.arange(20.0).reshape(10, 2)
Y = np.arange(10) % 3


class Pairs(Dataset):
    """A dataset that is not a TensorDataset: samples built on the fly."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return X[i], int(Y[i])


def test_tensor_dataset_indexing_by_int_slice_and_index_array(cpu_backend):
    ds = TensorDataset(X, Y)
    assert len(ds) == 10
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and int(y) == 0
    assert ds[-1][1] == Y[-1]
    xb, yb = ds[np.array([4, 0, 9])]
    assert xb.tolist() == X[[4, 0, 9]].tolist() and yb.tolist() == [1, 0, 0]
    assert ds[2:4][0].tolist() == X[2:4].tolist()
    assert ds[[-1]][1].tolist() == [Y[-1]]
    t = TensorDataset(xpgrad.tensor(X), xpgrad.tensor(Y))  # tensors of the current backend, gathered there
    xb, yb = t[xpgrad.tensor([1, 2])]
    assert isinstance(xb, xpgrad.Tensor) and xb.tolist() == X[1:3].tolist() and yb.tolist() == [1, 2]
    assert TensorDataset([[1.0], [2.0]])[1][0].tolist() == [2.0]  # lists become arrays


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"\[10, 9\] rows .*same size in their first dimension"):
        TensorDataset(X, Y[:9])
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match=r"tensors\[1\] is a scalar"):
        TensorDataset(X, np.float64(1.0))
    with pytest.raises(TypeError, match=r"tensors\[0\] must be a Tensor or an array"):
        TensorDataset({"a": 1})
    ds = TensorDataset(X, Y)
    with pytest.raises(IndexError, match="index 10 is out of range for a dataset of 10 samples"):
        ds[10]
    with pytest.raises(IndexError, match="index 12 is out of range"):
        ds[[0, 12]]
    with pytest.raises(TypeError, match="1-d array of integer positions"):
        ds[np.array([0.5])]


def test_subset_maps_indices_and_nests():
    ds = TensorDataset(X, Y)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0][0].tolist() == X[7].tolist() and sub[-1][1] == Y[5]
    assert sub[[2, 0]][0].tolist() == X[[5, 7]].tolist()
    inner = Subset(sub, [1])
    assert inner[0][0].tolist() == X[2].tolist()
    with pytest.raises(IndexError, match="index 3 is out of range for a subset of 3 samples"):
        sub[3]
    with pytest.raises(IndexError, match="index 10 is out of range"):
        Subset(ds, [10])
    with pytest.raises(TypeError, match="Subset: dataset must have __len__"):
        Subset(5, [0])


def _all(parts):
    return np.concatenate([p.indices for p in parts])


def test_random_split_lengths_and_fractions_cover_each_sample_once():
    ds = TensorDataset(X, Y)
    parts = random_split(ds, [6, 3, 1])
    assert [len(p) for p in parts] == [6, 3, 1]
    assert sorted(_all(parts).tolist()) == list(range(10))  # disjoint and complete
    # PyTorch's rule: floor(n·f) each, the remainder dealt from the first part on
    assert [len(p) for p in random_split(ds, [0.35, 0.35, 0.3])] == [4, 3, 3]
    assert [len(p) for p in random_split(TensorDataset(np.zeros(11)), [0.5, 0.5])] == [6, 5]
    assert [len(p) for p in random_split(ds, [1.0, 0.0])] == [10, 0]
    assert not np.array_equal(_all(random_split(ds, [5, 5], generator=0)), np.arange(10))  # it shuffles


def test_random_split_is_reproducible():
    ds = TensorDataset(X, Y)
    a = _all(random_split(ds, [0.5, 0.5], generator=1))
    assert np.array_equal(a, _all(random_split(ds, [0.5, 0.5], generator=1)))
    assert np.array_equal(a, _all(random_split(ds, [5, 5], generator=np.random.default_rng(1))))
    assert not np.array_equal(a, _all(random_split(ds, [5, 5], generator=2)))
    xpgrad.manual_seed(5)
    b = _all(random_split(ds, [5, 5]))
    xpgrad.manual_seed(5)
    assert np.array_equal(b, _all(random_split(ds, [5, 5])))


def test_random_split_errors():
    ds = TensorDataset(X, Y)
    with pytest.raises(ValueError, match=r"lengths \[5, 4\] sum to 9, but the dataset has 10"):
        random_split(ds, [5, 4])
    with pytest.raises(ValueError, match="fractions .* sum to"):
        random_split(ds, [0.5, 0.4])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(ds, [-1, 11])
    with pytest.raises(TypeError, match="generator must be"):
        random_split(ds, [5, 5], generator="seed")
    with pytest.raises(TypeError, match="lengths must be a list"):
        random_split(ds, 5)


@pytest.mark.parametrize("make", [lambda: TensorDataset(X, Y), lambda: Subset(TensorDataset(X, Y), range(10)),
                                  Pairs])
def test_data_loader_takes_datasets(make, cpu_backend):
    loader = DataLoader(make(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [yb.shape for _, yb in batches] == [(4,), (4,), (2,)]
    assert np.asarray(batches[0][0].tolist()).tolist() == X[:4].tolist()
    assert xpgrad.backend.dtype_name(batches[0][0].dtype) == "float32"
    assert xpgrad.backend.dtype_name(batches[0][1].dtype) == "int64"
    assert batches[0][0].backend.name == cpu_backend


def test_data_loader_of_a_split_and_shuffle_visit_each_sample_once():
    train, _ = random_split(TensorDataset(X, Y), [7, 3], generator=0)
    seen = np.concatenate([xb.numpy()[:, 0] for xb, _ in DataLoader(train, batch_size=3, shuffle=True)])
    assert sorted(seen.tolist()) == sorted(X[train.indices, 0].tolist())


def test_data_loader_dataset_errors():
    with pytest.raises(TypeError, match="second argument must be left out"):
        DataLoader(TensorDataset(X, Y), 4)
    with pytest.raises(TypeError, match="y is missing"):
        DataLoader(X)
    with pytest.raises(ValueError, match="TensorDataset of 3 tensors"):
        DataLoader(TensorDataset(X, Y, Y))

    class Bad(Pairs):
        def __getitem__(self, i):
            return X[i]

    with pytest.raises(ValueError, match=r"dataset\[0\] must be an \(x, y\) pair"):
        DataLoader(Bad())


def test_fit_and_evaluate_take_datasets():
    Xb, yb = xpgrad.data.blobs(n_per_class=30, classes=3, seed=0)
    train, val = random_split(TensorDataset(Xb, yb), [0.8, 0.2], generator=0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = xpgrad.optimizer("sgd", model.parameters(), lr=0.01)
    history = xpgrad.fit(model, nn.CrossEntropyLoss(), opt, train, epochs=5, batch_size=16, val_data=val,
                         progress=False)
    assert history.loss[-1] < history.loss[0] and len(history.val_loss) == 5
    result = xpgrad.train.evaluate(model, nn.CrossEntropyLoss(), val)
    assert result["loss"] == pytest.approx(history.val_loss[-1])
