"""Embedding and its functional form: lookups, the scatter-add gradient, padding_idx, and errors."""

import numpy as np
import pytest

import xpgrad
from xpgrad import nn
from xpgrad.nn.functional.norm import embedding


def _np(t):
    return xpgrad.backend.to_numpy(t.data if isinstance(t, xpgrad.Tensor) else t)


def _idx(values):
    return xpgrad.tensor(np.asarray(values), dtype="int64", backend=xpgrad.get_backend())


def test_embedding_looks_up_rows_for_indices_of_any_shape(backend):
    emb = nn.Embedding(6, 3, dtype="float64")
    w = _np(emb.weight)
    for idx in ([4], [[0, 5], [5, 2]], np.arange(24).reshape(2, 3, 4) % 6, 3):
        out = emb(_idx(idx))
        assert out.shape == np.shape(idx) + (3,)
        np.testing.assert_array_equal(_np(out), w[np.asarray(idx)])
        assert out.backend == backend


def test_embedding_init_is_standard_normal_and_state_dict_is_pytorchs():
    emb = nn.Embedding(200, 50)
    w = emb.weight.numpy()
    assert w.shape == (200, 50) and w.dtype == np.float32
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1.0) < 0.05
    assert list(emb.state_dict()) == ["weight"]
    assert repr(nn.Embedding(5, 2, padding_idx=-1)) == "Embedding(5, 2, padding_idx=4)"


def test_embedding_gradient_sums_repeated_rows(cpu_backend):
    emb = nn.Embedding(4, 2, dtype="float64")
    idx = _idx([[1, 3, 1], [1, 0, 3]])
    g = np.arange(12.0).reshape(2, 3, 2)
    (emb(idx) * xpgrad.tensor(g, dtype="float64", backend=cpu_backend)).sum().backward()
    want = np.zeros((4, 2))
    np.add.at(want, np.asarray([[1, 3, 1], [1, 0, 3]]), g)
    np.testing.assert_allclose(_np(emb.weight.grad), want, rtol=1e-12)


def test_embedding_gradcheck(cpu_backend):
    w = xpgrad.tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype="float64", requires_grad=True,
                      backend=cpu_backend)
    idx = _idx([[0, 4, 4], [2, 0, 1]])
    assert xpgrad.gradcheck(lambda w: embedding(idx, w) ** 2, [w])
    # the padding row is a constant by definition (its gradient is zero): elsewhere the gradient is exact
    other = _idx([[0, 3, 3], [2, 0, 1]])
    assert xpgrad.gradcheck(lambda w: embedding(other, w, padding_idx=4) ** 2, [w])


def test_padding_row_starts_at_zero_and_gets_no_gradient(cpu_backend):
    emb = nn.Embedding(4, 3, padding_idx=2, dtype="float64")
    np.testing.assert_array_equal(_np(emb.weight)[2], 0.0)
    assert np.all(_np(emb.weight)[[0, 1, 3]] != 0.0)
    emb(_idx([2, 2, 1, 0])).sum().backward()
    grad = _np(emb.weight.grad)
    np.testing.assert_array_equal(grad[2], 0.0)
    np.testing.assert_array_equal(grad[[0, 1, 3]], [[1.0] * 3, [1.0] * 3, [0.0] * 3])
    opt = xpgrad.optimizer("sgd", emb.parameters(), lr=1.0)
    opt.step()
    np.testing.assert_array_equal(_np(emb.weight)[2], 0.0)  # an optimizer step leaves it at zero


def test_embedding_takes_host_lists_and_arrays_of_ints():
    emb = nn.Embedding(3, 2)
    np.testing.assert_array_equal(emb([[0, 2]]).numpy(), emb.weight.numpy()[[[0, 2]]])
    np.testing.assert_array_equal(emb(np.array([1, 1])).numpy(), emb.weight.numpy()[[1, 1]])


def test_embedding_errors_name_the_index_and_the_size(cpu_backend):
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"index 5 is out of range.*num_embeddings=5.*\[0, 4\]"):
        emb(_idx([0, 5]))
    with pytest.raises(IndexError, match=r"index -1 is out of range.*num_embeddings=5"):
        emb(_idx([[-1, 2]]))
    with pytest.raises(TypeError, match="indices must be an integer tensor, got dtype .*float32"):
        emb(xpgrad.tensor([1.0, 2.0], backend=cpu_backend))
    with pytest.raises(ValueError, match="padding_idx=5 is out of range for num_embeddings=5"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(TypeError, match="padding_idx must be an int"):
        nn.Embedding(5, 2, padding_idx=1.0)
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        nn.Embedding(5, 0)
    with pytest.raises(TypeError, match="int32"):
        nn.Embedding(5, 2, dtype="int32")
    with pytest.raises(ValueError, match=r"weight must be a 2-D tensor.*\(5,\)"):
        embedding(_idx([0]), xpgrad.ones(5))
