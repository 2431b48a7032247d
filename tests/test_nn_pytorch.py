"""PyTorch state dicts load as they are: nn.Linear weights are (out_features, in_features)."""

import numpy as np
import pytest

from xpgrad import nn


def _torch_layout_state(sizes, seed=0):
    """A state dict as ``torch.nn.Sequential(Linear, ReLU, Linear, ...)`` has it, made with NumPy."""
    rng = np.random.default_rng(seed)
    state = {}
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        state[f"{2 * i}.weight"] = rng.standard_normal((b, a)).astype(np.float32)  # (out, in)
        state[f"{2 * i}.bias"] = rng.standard_normal(b).astype(np.float32)
    return state


def _mlp(sizes):
    layers = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _formula(state, x, n_layers):
    """y = x W₀ᵀ + b₀, then ReLU, ... in float64: what PyTorch's nn.Linear computes."""
    h = x.astype(np.float64)
    for i in range(n_layers):
        h = h @ state[f"{2 * i}.weight"].T.astype(np.float64) + state[f"{2 * i}.bias"]
        if i < n_layers - 1:
            h = np.maximum(h, 0.0)
    return h


@pytest.mark.parametrize("sizes", [[4, 8, 3], [5, 5, 5, 2]])
def test_a_safetensors_file_in_pytorch_layout_loads_as_it_is(tmp_path, backend, sizes):
    from safetensors.numpy import load_file, save_file

    state = _torch_layout_state(sizes)
    save_file(state, str(tmp_path / "torch.safetensors"))  # what safetensors.torch.save_file of the model writes
    model = _mlp(sizes)
    assert model.load_state_dict(load_file(str(tmp_path / "torch.safetensors"))) == ([], [])
    assert model[0].weight.backend == backend and model[0].weight.shape == (sizes[1], sizes[0])
    x = np.random.default_rng(1).standard_normal((6, sizes[0])).astype(np.float32)
    np.testing.assert_allclose(model(x).numpy(), _formula(state, x, len(sizes) - 1), rtol=1e-5, atol=1e-5)
    # and back: xpgrad's state dict is PyTorch's, array for array
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key])


def test_gradients_have_the_weight_shape_and_match_the_formula():
    state = _torch_layout_state([3, 2])
    model = _mlp([3, 2])
    model.load_state_dict(state)
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    model(x).sum().backward()
    g = np.ones((4, 2))
    np.testing.assert_allclose(model[0].weight.grad, g.T @ x, rtol=1e-6)  # dW = gᵀ x, shape (out, in)
    np.testing.assert_allclose(model[0].bias.grad, g.sum(0), rtol=1e-6)


def test_outputs_and_gradients_equal_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ReLU(), torch.nn.Linear(10, 4))
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 4))
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)
    want = ref(torch.from_numpy(x))
    got = model(x)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    want.square().sum().backward()
    (got ** 2).sum().backward()
    for (name, p), q in zip(ref.named_parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(q.grad, p.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    # torch tensors themselves load too (copied, not shared)
    model.load_state_dict(ref.state_dict())
    with torch.no_grad():
        ref[0].weight.zero_()
    assert np.abs(model[0].weight.numpy()).sum() > 0
