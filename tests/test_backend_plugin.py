"""A backend in a separate distribution, found through its entry point, selected by name, trains a model."""

import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN = textwrap.dedent('''
    import numpy as np
    import xpgrad
    from xpgrad.backend import NumpyBackend


    class PhiloxBackend(NumpyBackend):
        """NumPy arrays; random numbers from the Philox bit generator."""

        def make_generator(self, seed):
            return np.random.Generator(np.random.Philox(seed))


    @xpgrad.hookimpl
    def register_backends(register):
        register("philox", PhiloxBackend, aliases=("numpy_philox",))
''')

TRAIN = textwrap.dedent('''
    import numpy as np
    import xpgrad
    from xpgrad import nn

    print("backends", *xpgrad.available_backends())
    xpgrad.set_backend("numpy_philox")                       # the alias works too
    xpgrad.manual_seed(0)
    a = xpgrad.randn(3).numpy()
    expected = np.random.Generator(np.random.Philox(0)).standard_normal(3, dtype=np.float32)
    print("philox-numbers", bool(np.array_equal(a, expected)))
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    X, y = xpgrad.data.spiral(n_per_class=50, classes=2, seed=0)
    opt = xpgrad.optimizer("adam", model.parameters(), lr=0.05)
    history = xpgrad.fit(model, xpgrad.loss("cross_entropy"), opt, (X, y), epochs=30, progress=False)
    print("trained", model[0].weight.backend.name, history.loss[-1] < history.loss[0] / 2)
''')


def _distribution(tmp_path, module_source, name="xpgrad_philox"):
    (tmp_path / f"{name}.py").write_text(module_source)
    info = tmp_path / f"{name.replace('_', '-')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[xpgrad]\nphilox = {name}\n")


def _run(tmp_path, code, **env):
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    env.pop("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_a_backend_plugin_distribution_is_found_selected_and_trains(tmp_path):
    _distribution(tmp_path, PLUGIN)
    proc = _run(tmp_path, TRAIN)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert "philox" in lines["backends"].split()
    assert lines["philox-numbers"] == "True"
    assert lines["trained"] == "philox True"


def test_the_environment_variable_and_the_cli_know_a_plugin_backend(tmp_path):
    _distribution(tmp_path, PLUGIN)
    proc = _run(tmp_path, "import xpgrad; print(xpgrad.get_backend())", XPGRAD_BACKEND="philox")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["philox"]
    info = _run(tmp_path, "from xpgrad.cli import main; main(['info'])")
    assert info.returncode == 0, info.stderr
    assert "philox" in info.stdout and "xpgrad_philox" in info.stdout.replace("-", "_")


@pytest.mark.parametrize("source, why", [
    ("raise ImportError('no such library')", "no such library"),
    ("import xpgrad\n@xpgrad.hookimpl\ndef register_backends(register):\n    register('numpy', object)\n",
     "subclass"),
])
def test_a_broken_backend_plugin_is_a_warning_naming_it_and_numpy_still_works(tmp_path, source, why):
    _distribution(tmp_path, source, name="xpgrad_broken")
    proc = _run(tmp_path, "import warnings, xpgrad\nwarnings.simplefilter('always')\n"
                          "print(xpgrad.tensor([1.0]).backend.name, xpgrad.available_backends())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("numpy")
    assert "xpgrad-broken" in proc.stderr or "xpgrad_broken" in proc.stderr
    assert why in proc.stderr
