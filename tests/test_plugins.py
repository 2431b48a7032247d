"""Plugin discovery through entry points: fake dist-info folders on sys.path, broken plugins, switches."""

import importlib.metadata
import importlib.util
import sys
import textwrap
import uuid

import pytest

import xpgrad
from xpgrad import registry
from xpgrad.registry import PluginWarning
from xpgrad.scaffold import new_plugin

GOOD = '''
import xpgrad

@xpgrad.hookimpl
def register_activations(register):
    register("{prefix}_act", lambda x: 3 * x)

@xpgrad.hookimpl
def register_optimizers(register):
    from xpgrad.optimizers import SGD
    register("{prefix}_opt", SGD)
'''

BROKEN = {
    "import_error": "import xpgrad\nimport not_a_module_anywhere_{prefix}\n",
    "wrong_argument": ("import xpgrad\n@xpgrad.hookimpl\ndef register_activations(register, extra):\n"
                       "    register('{prefix}_bad', abs)\n"),
    "misspelled_hook": ("import xpgrad\n@xpgrad.hookimpl\ndef register_activation(register):\n"
                        "    register('{prefix}_bad', abs)\n"),
    "duplicate": "import xpgrad\n@xpgrad.hookimpl\ndef register_activations(register):\n    register('relu', abs)\n",
    "raises": ("import xpgrad\n@xpgrad.hookimpl\ndef register_losses(register):\n"
               "    raise RuntimeError('boom {prefix}')\n"),
}


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Install fake distributions into a folder on sys.path; the registry reloads before and after."""
    made = []

    def install(module_source, dist=None):
        prefix = "p" + uuid.uuid4().hex[:8]
        dist = dist or f"fake-{prefix}"
        module = f"fake_{prefix}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source.format(prefix=prefix)))
        info = tmp_path / f"{dist.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "entry_points.txt").write_text(f"[xpgrad]\n{prefix} = {module}\n")
        made.append(module)
        return prefix, dist

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("XPGRAD_BLOCK_PLUGINS", raising=False)
    registry.reload()
    yield install
    registry.reload()
    for m in made:
        sys.modules.pop(m, None)


def test_entry_point_plugin_is_found_with_its_distribution(site):
    prefix, dist = site(GOOD)
    entry = registry.activations[f"{prefix}_act"]
    assert (entry.plugin, entry.distribution) == (prefix, dist)
    assert xpgrad.activation(f"{prefix}_act")(xpgrad.tensor([1.0])).tolist() == [3.0]
    assert registry.optimizers[f"{prefix}_opt"].obj is xpgrad.optimizers.SGD


def test_plugins_are_not_loaded_before_first_use(site):
    prefix, _ = site(GOOD)
    assert f"fake_{prefix}" not in sys.modules
    assert f"{prefix}_act" in registry.activations
    assert f"fake_{prefix}" in sys.modules


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_plugin_warns_with_its_distribution_and_the_rest_works(site, kind):
    good, _ = site(GOOD)
    bad, bad_dist = site(BROKEN[kind])
    with pytest.warns(PluginWarning, match=f"{bad_dist}") as record:
        assert f"{good}_act" in registry.activations
    assert any(bad in str(w.message) for w in record)
    assert registry.activations["relu"].plugin == "xpgrad.activations"
    assert f"{bad}_bad" not in registry.activations
    assert not xpgrad.plugin_manager().has_plugin(bad)
    assert xpgrad.loss("svm")(xpgrad.tensor([[3.2, 5.1, -1.7]]), [0]).item() == pytest.approx(2.9)


def test_duplicate_from_entry_point_names_both_plugins(site):
    bad, _ = site(BROKEN["duplicate"])
    with pytest.warns(PluginWarning, match=f"'xpgrad.activations' and by plugin '{bad}'"):
        registry.activations["relu"]


def test_disable_autoload_skips_entry_points(site, monkeypatch):
    prefix, _ = site(GOOD)
    monkeypatch.setenv("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry.reload()
    assert f"{prefix}_act" not in registry.activations
    assert "relu" in registry.activations


@pytest.mark.parametrize("by", ["entry point", "distribution"])
def test_block_plugins_by_name(site, monkeypatch, by):
    blocked, blocked_dist = site(GOOD)
    kept, _ = site(GOOD)
    monkeypatch.setenv("XPGRAD_BLOCK_PLUGINS", f"someone_else, {blocked if by == 'entry point' else blocked_dist}")
    registry.reload()
    assert f"{blocked}_act" not in registry.activations
    assert f"{kept}_act" in registry.activations


def test_xpgrad_extras_is_found_through_its_entry_point():
    """CI installs plugins/xpgrad-extras; the registry must find it without any import by the user."""
    try:
        dist = importlib.metadata.distribution("xpgrad-extras")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("xpgrad-extras is not installed (pip install -e plugins/xpgrad-extras)")
    eps = [ep for ep in dist.entry_points if ep.group == "xpgrad"]
    assert [ep.name for ep in eps] == ["extras"]
    registry.reload()
    for table, name in ((registry.activations, "mish"), (registry.losses, "huber"),
                        (registry.regularizers, "group_lasso"), (registry.optimizers, "lion"),
                        (registry.schedules, "one_cycle")):
        entry = table[name]
        assert (entry.plugin, entry.distribution) == ("extras", "xpgrad-extras")


def test_scaffolded_plugin_works_and_its_test_passes(tmp_path, monkeypatch):
    root = new_plugin("Demo Acts", tmp_path)
    assert root.name == "xpgrad-demo-acts"
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.xpgrad]\ndemo_acts = "xpgrad_demo_acts.plugin"' in pyproject
    with pytest.raises(FileExistsError):
        new_plugin("demo-acts", tmp_path)
    with pytest.raises(ValueError, match="usable Python name"):
        new_plugin("3d", tmp_path)
    monkeypatch.syspath_prepend(str(root / "src"))
    spec = importlib.util.spec_from_file_location("scaffold_test_plugin", root / "tests" / "test_plugin.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        module.test_demo_acts_softsign_values()
        module.test_demo_acts_softsign_contract()
        assert registry.activations["demo_acts_softsign"].plugin == "demo_acts"
    finally:
        registry.reload()
        for name in ("xpgrad_demo_acts", "xpgrad_demo_acts.plugin"):
            sys.modules.pop(name, None)


BACKEND = '''
import xpgrad
from xpgrad.backend import NumpyBackend


class PluginBackend(NumpyBackend):
    """NumPy under a plugin's name."""


@xpgrad.hookimpl
def register_backends(register):
    register("{prefix}_be", PluginBackend, aliases=("{prefix}_alias",))
'''

BROKEN_BACKEND = {
    "not_a_backend": ("import xpgrad\n@xpgrad.hookimpl\ndef register_backends(register):\n"
                      "    register('{prefix}_be', int)\n"),
    "raises": ("import xpgrad\n@xpgrad.hookimpl\ndef register_backends(register):\n"
               "    raise RuntimeError('boom {prefix}')\n"),
    "duplicate": ("import xpgrad\nfrom xpgrad.backend import NumpyBackend\n@xpgrad.hookimpl\n"
                  "def register_backends(register):\n    register('{prefix}_be', NumpyBackend)\n"
                  "    register('numpy', NumpyBackend)\n"),
}


@pytest.fixture
def retired_backends():
    """Backend names a test's plugins add; made unusable afterwards, so later tests do not run on them."""
    names = []
    yield names.append

    class Retired(xpgrad.backend.Backend):
        def load(self):
            raise xpgrad.backend.BackendError(f"backend {self.name!r} belonged to a finished test")

    for name in names:
        xpgrad.backend.register_backend(name, Retired, override=True)


def test_backend_plugin_from_an_entry_point_trains_and_is_listed(site, retired_backends, capsys):
    from xpgrad.cli import main

    prefix, dist = site(BACKEND)
    retired_backends(f"{prefix}_be")
    assert main(["train", "--backend", f"{prefix}_alias", "--epochs", "2", "--quiet"]) == 0
    assert "final train accuracy" in capsys.readouterr().out
    info = xpgrad.backend.registered_backends()[f"{prefix}_be"]
    assert (info.plugin, info.distribution) == (prefix, dist)
    assert (registry.backends[f"{prefix}_be"].plugin, registry.backends[f"{prefix}_be"].distribution) == (prefix, dist)
    assert main(["info"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith(f"{prefix}_be:"))
    assert f"available  (plugin {prefix} [{dist}], aliases {prefix}_alias)" in line
    with xpgrad.use_backend(f"{prefix}_be"):
        assert xpgrad.tensor([1.0, 2.0]).backend == f"{prefix}_be"


def test_unknown_backend_option_lists_the_plugin_backends(site, retired_backends, capsys):
    from xpgrad.cli import main

    prefix, _ = site(BACKEND)
    retired_backends(f"{prefix}_be")
    assert main(["train", "--backend", "nope", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'" in err and f"{prefix}_be" in err and "array_api_strict" in err


@pytest.mark.parametrize("kind", sorted(BROKEN_BACKEND))
def test_broken_backend_plugin_warns_and_the_rest_works(site, retired_backends, kind):
    good, _ = site(GOOD)
    bad, bad_dist = site(BROKEN_BACKEND[kind])
    retired_backends(f"{bad}_be")  # a no-op if it was never registered
    with pytest.warns(PluginWarning, match=f"{bad_dist}") as record:
        assert f"{good}_act" in registry.activations
    assert any(bad in str(w.message) for w in record)
    assert f"{bad}_be" not in registry.backends and not xpgrad.plugin_manager().has_plugin(bad)
    assert f"{bad}_be" not in xpgrad.backend.available_backends()
    assert xpgrad.backend.registered_backends()["numpy"].cls is xpgrad.backend.NumpyBackend
    assert (xpgrad.tensor([1.0, 2.0]) * 2).tolist() == [2.0, 4.0]
