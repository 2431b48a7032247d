"""The registry: read-only tables, aliases, plugin ownership, duplicates, unknown names, factories."""

import subprocess
import sys

import pluggy
import pytest

import xpgrad
from xpgrad import registry
from xpgrad.registry import DuplicateComponentError, UnknownComponentError


@pytest.fixture
def pm():
    """The plugin manager; whatever a test registers on it is gone afterwards."""
    yield xpgrad.plugin_manager()
    registry.reload()


class Plugin:
    """An in-process plugin registering the given components."""

    def __init__(self, kind, *components):
        self.kind, self.components = kind, components

    @xpgrad.hookimpl
    def register_activations(self, register):
        self._run("activation", register)

    @xpgrad.hookimpl
    def register_losses(self, register):
        self._run("loss", register)

    def _run(self, kind, register):
        if kind == self.kind:
            for name, obj, kw in self.components:
                register(name, obj, **kw)


def test_builtin_names():
    builtin = {k: {e.name for e in registry.describe(k) if e.distribution == "xpgrad"} for k in registry.KINDS}
    assert builtin["activation"] == {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout", "softmax",
                                     "log_softmax", "gelu", "silu", "softplus", "identity"}
    assert builtin["loss"] == {"softmax_cross_entropy", "multiclass_svm", "mse", "binary_cross_entropy"}
    assert builtin["regularizer"] == {"l1", "l2", "elastic_net"}
    assert builtin["optimizer"] == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw",
                                    "random_search"}
    assert builtin["schedule"] == {"constant", "step", "cosine", "linear", "inverse_sqrt", "cosine_restarts"}


def test_entries_know_their_plugin():
    e = registry.activations["relu"]
    assert (e.name, e.kind, e.plugin, e.distribution) == ("relu", "activation", "xpgrad.activations", "xpgrad")
    assert registry.optimizers["adam"].plugin == "xpgrad.optimizers"
    assert registry.schedules["cosine"].plugin == "xpgrad.schedules"
    assert "sigmoid" in registry.activations["sigmoid"].summary.lower()


def test_aliases_resolve_to_the_canonical_entry():
    assert registry.losses["cross_entropy"] is registry.losses["softmax_cross_entropy"]
    assert registry.losses["softmax"].name == "softmax_cross_entropy"
    assert registry.losses["svm"].name == registry.losses["hinge"].name == "multiclass_svm"
    assert "svm" in registry.losses and "svm" not in list(registry.losses)
    assert registry.losses.aliases["hinge"] == "multiclass_svm"


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        registry.activations["relu"] = None
    with pytest.raises(TypeError):
        del registry.activations["relu"]
    with pytest.raises(AttributeError):
        registry.activations["relu"].obj = None


def test_unknown_name_suggests_close_matches_and_lists_all():
    with pytest.raises(KeyError) as info:
        registry.activations["rellu"]
    msg = str(info.value)
    assert "did you mean 'relu'" in msg.lower() and "leaky_relu" in msg and "sigmoid" in msg
    with pytest.raises(UnknownComponentError, match="unknown optimizer 'adamm'"):
        xpgrad.optimizer("adamm", [xpgrad.tensor([1.0], requires_grad=True)])
    with pytest.raises(KeyError, match="Available schedules"):
        xpgrad.schedule("nope", None)


def test_plugin_manager_is_pluggy_with_project_xpgrad(pm):
    assert isinstance(pm, pluggy.PluginManager) and pm.project_name == "xpgrad"
    assert xpgrad.hookimpl is xpgrad.hookspecs.hookimpl
    assert pm.has_plugin("xpgrad.activations")


def test_in_process_plugin_adds_and_removes_components(pm):
    pm.register(Plugin("activation", ("cube", lambda x: x * x * x, {"aliases": ("third_power",)})), name="cuber")
    assert registry.activations["third_power"].plugin == "cuber"
    assert xpgrad.activation("cube")(xpgrad.tensor([2.0])).tolist() == [8.0]
    assert registry.activations["cube"].distribution is None
    pm.unregister(name="cuber")
    assert "cube" not in registry.activations and "third_power" not in registry.activations


def test_duplicate_name_names_both_plugins_and_rolls_back(pm):
    plugin = Plugin("activation", ("fresh", abs, {}), ("relu", abs, {}))
    with pytest.raises(DuplicateComponentError, match="'xpgrad.activations'.*'dup'"):
        pm.register(plugin, name="dup")
    assert not pm.has_plugin("dup")
    assert "fresh" not in registry.activations  # all of the plugin's components or none
    assert registry.activations["relu"].plugin == "xpgrad.activations"


def test_duplicate_alias_and_duplicate_inside_one_plugin(pm):
    with pytest.raises(DuplicateComponentError, match="'svm'"):
        pm.register(Plugin("loss", ("mine", abs, {"aliases": ("svm",)})), name="a")
    with pytest.raises(DuplicateComponentError, match="twice"):
        pm.register(Plugin("loss", ("x1", abs, {}), ("x1", abs, {})), name="b")


def test_override_replaces_and_unregister_restores(pm):
    def my_relu(x):
        return x

    pm.register(Plugin("activation", ("relu", my_relu, {"override": True})), name="over")
    assert registry.activations["relu"].obj is my_relu and registry.activations["relu"].plugin == "over"
    pm.unregister(name="over")
    assert registry.activations["relu"].plugin == "xpgrad.activations"


def test_register_rejects_bad_names_and_objects(pm):
    with pytest.raises(TypeError, match="non-empty string"):
        pm.register(Plugin("activation", ("", abs, {})), name="c")
    with pytest.raises(TypeError, match="callable"):
        pm.register(Plugin("activation", ("thing", 3, {})), name="d")


def test_function_subclass_can_be_registered(pm):
    class Scale(xpgrad.Function):
        @staticmethod
        def forward(ctx, x, factor=2.0):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor

    pm.register(Plugin("activation", ("scale", Scale, {})), name="scaler")
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = xpgrad.activation("scale", factor=3.0)(x)
    assert y.tolist() == [3.0, 6.0] and y.grad_fn is Scale
    with pytest.raises(TypeError, match="factor"):
        xpgrad.activation("scale", nope=1)


def test_factories_reject_unknown_keywords_listing_accepted_ones():
    with pytest.raises(TypeError, match="negative_slope"):
        xpgrad.activation("leaky_relu", slope=0.1)
    with pytest.raises(TypeError, match="margin"):
        xpgrad.loss("svm", delta=2.0)
    with pytest.raises(ValueError, match="reduction"):
        xpgrad.loss("mse", reduction="average")
    with pytest.raises(TypeError, match="beta"):
        xpgrad.regularizer("elastic_net", 0.1, alpha=1)
    with pytest.raises(ValueError, match="strength"):
        xpgrad.regularizer("l2", -1.0)


def test_optimizer_factory_validates_hyperparameters():
    w = [xpgrad.tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError, match="lr=-0.1"):
        xpgrad.optimizer("sgd", w, lr=-0.1)
    with pytest.raises(ValueError, match="momentum=1.0"):
        xpgrad.optimizer("momentum", w, momentum=1.0)
    with pytest.raises(ValueError, match="momentum=-0.5"):
        xpgrad.optimizer("nesterov", w, momentum=-0.5)
    with pytest.raises(TypeError, match="'momentum'.*accepts: lr"):
        xpgrad.optimizer("adam", w, momentum=0.9)
    with pytest.raises(ValueError, match="betas"):
        xpgrad.optimizer("adam", w, betas=(0.9, 1.5))


def test_schedule_factory_validates_keywords():
    opt = xpgrad.optimizer("sgd", [xpgrad.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match="total_steps"):
        xpgrad.schedule("cosine", opt)
    with pytest.raises(TypeError, match="unknown keyword"):
        xpgrad.schedule("constant", opt, gamma=0.5)
    with pytest.raises(ValueError, match="warmup_steps"):
        xpgrad.schedule("linear", opt, total_steps=5, warmup_steps=5)


def test_describe_lists_entries_sorted():
    entries = registry.describe()
    keys = [(registry.KINDS.index(e.kind), e.name) for e in entries]
    assert keys == sorted(keys)
    assert {e.kind for e in entries} == set(registry.KINDS)
    with pytest.raises(ValueError, match="kind"):
        registry.describe("layer")


def test_import_xpgrad_does_not_import_pluggy_or_load_plugins():
    code = ("import sys, xpgrad; assert 'pluggy' not in sys.modules, 'pluggy imported'; "
            "assert 'xpgrad.registry' not in sys.modules; xpgrad.registry.activations['relu']; "
            "assert 'pluggy' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- kinds listed once, built-ins registered where they are defined ----------------------------------------

def test_kinds_are_listed_once_and_everything_derives_from_them():
    from xpgrad import cli, hookspecs

    specs = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
    assert specs == sorted(registry.kind(k).hook for k in registry.KINDS)
    assert registry.BUILTIN_PLUGINS == tuple(registry.kind(k).builtin_module for k in registry.KINDS)
    assert [registry.table(k).kind for k in registry.KINDS] == list(registry.KINDS)
    kind_option = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices["list"]._actions
                       if a.dest == "kind")
    assert tuple(kind_option.choices) == registry.KINDS
    with pytest.raises(ValueError, match="unknown component kind 'layer'; use one of backend, activation"):
        registry.kind("layer")


def test_builtins_register_at_their_definition_site():
    from xpgrad import activations, losses, optimizers, schedules

    assert registry.activations["relu"].obj is activations.relu
    assert registry.losses["bce"].obj is losses.binary_cross_entropy
    assert registry.optimizers["sgd_momentum"].obj is optimizers.Momentum
    assert registry.schedules["cosine"].obj.fn is schedules.cosine_lr  # wrapped in its ScheduleFactory
    assert registry.backends["np"].obj is xpgrad.backend.NumpyBackend
    assert registry.backends["numpy"].plugin == "xpgrad.backend.builtins"


def test_collector_decorates_and_makes_the_hook(pm):
    from xpgrad.hookspecs import Collector

    builtin = Collector("loss", wrap=lambda f: f)

    @builtin(aliases="l_one")
    def l1_loss(scores, targets, *, reduction="mean"):
        """|s − t|."""
        return abs(scores - targets).mean()

    class Module:
        register_losses = builtin.hookimpl()

    assert l1_loss.__name__ == "l1_loss" and builtin.names() == ["l1_loss"]
    pm.register(Module, name="collected")
    assert registry.losses["l_one"].obj is l1_loss and registry.losses["l1_loss"].plugin == "collected"
    with pytest.raises(ValueError, match="unknown component kind"):
        Collector("losses")


def test_ensure_loaded_is_idempotent_and_thread_safe():
    import threading

    registry.reload()
    seen, errors = [], []

    def worker():
        try:
            registry.ensure_loaded()
            seen.append((xpgrad.plugin_manager(), len(registry.activations), len(registry.backends)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(seen) == 8
    assert len(set(seen)) == 1  # one manager, whole tables, whatever thread came first
    registry.ensure_loaded()
    assert seen[0][0] is xpgrad.plugin_manager()


# -- backends registered by plugins ----------------------------------------------------------------------

class Retired(xpgrad.backend.Backend):
    """What a test's backend name points to afterwards: listed, but not usable (so no other test runs on it)."""

    def load(self):
        raise xpgrad.backend.BackendError(f"backend {self.name!r} was registered by a test that has finished")


@pytest.fixture
def retire():
    """Names of backends a test registers; they are retired at the end (the backend table keeps names)."""
    names = []
    yield names.append
    for name in names:
        xpgrad.backend.register_backend(name, Retired, override=True)
    assert not set(names) & set(xpgrad.backend.available_backends())


def _backend_plugin(name, cls, **kw):
    class BackendPlugin:
        @xpgrad.hookimpl
        def register_backends(self, register):
            register(name, cls, **kw)

    return BackendPlugin()


def test_in_process_backend_plugin_is_usable(pm, retire):
    class TracedNumpy(xpgrad.backend.NumpyBackend):
        """NumPy under another name."""

    retire("traced_np_reg")
    pm.register(_backend_plugin("traced_np_reg", TracedNumpy, aliases=("tnp_reg",)), name="tracer")
    info = xpgrad.backend.registered_backends()["traced_np_reg"]
    assert (info.cls, info.plugin, info.aliases) == (TracedNumpy, "tracer", ("tnp_reg",))
    assert registry.backends["tnp_reg"].plugin == "tracer"
    t = xpgrad.tensor([1.0, 2.0], backend="tnp_reg")
    assert t.backend == "traced_np_reg" and isinstance(t.backend, TracedNumpy)
    assert (t * t).sum().item() == 5.0
    assert xpgrad.testing.check_backend("traced_np_reg")


def test_backend_plugin_duplicates_and_bad_classes_are_refused(pm):
    with pytest.raises(DuplicateComponentError, match="'numpy'.*'xpgrad.backend.builtins'.*'clash'"):
        pm.register(_backend_plugin("numpy", xpgrad.backend.NumpyBackend), name="clash")
    assert not pm.has_plugin("clash")
    with pytest.raises(TypeError, match="subclass of xpgrad.backend.Backend"):
        pm.register(_backend_plugin("not_a_backend", dict), name="bad")
    assert "not_a_backend" not in registry.backends


def test_check_backend_catches_a_wrong_scatter_add(pm, retire):
    class NoDuplicates(xpgrad.backend.NumpyBackend):
        def index_add(self, out, axis, indices, values):
            out = out.copy()
            out[(slice(None),) * axis + (indices,)] += values  # drops repeated indices
            return out

    retire("no_dup_reg")
    pm.register(_backend_plugin("no_dup_reg", NoDuplicates), name="nodup")
    with pytest.raises(AssertionError, match="backend 'no_dup_reg'.*index_add"):
        xpgrad.testing.check_backend("no_dup_reg")
