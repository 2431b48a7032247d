"""The one flag decides where everything goes, the user's own data included: a PyTorch-style loop
over NumPy data, written with no backend-specific code, trains on whatever XPGRAD_BACKEND names.
array-api-strict stands in for the device (its arrays are not NumPy's, as CuPy's are not)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xpgrad
from xpgrad import nn

LOOP = textwrap.dedent("""
    import numpy as np
    import xpgrad
    from xpgrad import nn

    rng = np.random.default_rng(0)                        # the user's own data, on the host
    X = rng.standard_normal((200, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)           # XOR-like: needs the hidden layer

    xpgrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    loss_fn = xpgrad.loss("cross_entropy")
    opt = xpgrad.optimizer("adam", model.parameters(), lr=0.05)
    for epoch in range(60):
        for start in range(0, 200, 50):
            xb, yb = X[start:start + 50], y[start:start + 50]
            loss = loss_fn(model(xb), xpgrad.tensor(yb))   # NumPy batches straight into the model
            opt.zero_grad()
            loss.backward()
            opt.step()
    with xpgrad.no_grad():
        scores = model(X)
    accuracy = float((scores.numpy().argmax(axis=1) == y).mean())
    print(xpgrad.get_backend(), scores.backend.name, model[0].weight.backend.name, f"{accuracy:.3f}")
""")


@pytest.mark.parametrize("flag", ["array_api_strict", "numpy"])
def test_a_pytorch_style_loop_on_numpy_data_trains_where_the_flag_says(flag):
    env = dict(os.environ, XPGRAD_BACKEND=flag)
    proc = subprocess.run([sys.executable, "-c", LOOP], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    current, scores_on, weights_on, accuracy = proc.stdout.split()
    assert current == scores_on == weights_on == flag
    assert float(accuracy) > 0.9


@pytest.mark.parametrize("where", ["tensor", "zeros", "ones", "full", "randn", "rand", "arange", "as_tensor"])
def test_every_creation_function_follows_the_current_backend(where):
    make = {
        "tensor": lambda: xpgrad.tensor(np.ones(3)), "as_tensor": lambda: xpgrad.as_tensor(np.ones(3)),
        "zeros": lambda: xpgrad.zeros(3), "ones": lambda: xpgrad.ones(3), "full": lambda: xpgrad.full((3,), 2.0),
        "randn": lambda: xpgrad.randn(3), "rand": lambda: xpgrad.rand(3), "arange": lambda: xpgrad.arange(3),
    }[where]
    with xpgrad.use_backend("array_api_strict"):
        assert make().backend == "array_api_strict"
    assert make().backend == "numpy"


def test_a_module_called_on_host_data_moves_it_on_every_path():
    with xpgrad.use_backend("array_api_strict"):
        fused = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))  # Linear->ReLU runs fused
        plain = nn.Linear(3, 2)
    x = np.ones((5, 3), dtype=np.float64)  # float64 host data: moved to the module's backend and dtype
    for model in (fused, plain):
        out = model(x)
        assert out.backend == "array_api_strict" and out.shape[0] == 5
        assert out.dtype == next(iter(model.parameters())).dtype
        assert model([[1.0, 2.0, 3.0]]).backend == "array_api_strict"  # lists too


def test_a_tensor_of_another_float_dtype_is_refused_naming_both_dtypes():
    model = nn.Linear(3, 2)  # float32
    with pytest.raises((TypeError, ValueError), match=r"float64.*float32|float32.*float64"):
        model(xpgrad.ones((2, 3), dtype="float64"))
