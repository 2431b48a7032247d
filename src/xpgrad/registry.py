"""Name -> component tables filled by pluggy plugins, and the factories that use them.

Built-in components and third-party plugins register through the same hooks
(:mod:`xpgrad.hookspecs`). Plugins are found through entry points in the group
``"xpgrad"`` the first time a table is used, never at ``import xpgrad``.
Each plugin loads on its own: one that fails to import or to register becomes
a :class:`PluginWarning` naming its distribution, and everything else works.

Environment variables, read when the registry loads (and on :func:`reload`):

- ``XPGRAD_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points (built-ins still load);
- ``XPGRAD_BLOCK_PLUGINS=a,b`` skips the named plugins (entry-point or distribution names).

>>> from xpgrad import registry
>>> registry.activations["relu"].plugin
'xpgrad.activations'
>>> "cross_entropy" in registry.losses
True
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["BUILTIN_PLUGINS", "ComponentTable", "DuplicateComponentError", "Entry", "PluginWarning",
           "UnknownComponentError", "activation", "activations", "describe", "loss", "losses", "optimizer",
           "optimizers", "plugin_manager", "regularizer", "regularizers", "reload", "schedule", "schedules", "table"]

GROUP = "xpgrad"
KINDS = ("activation", "loss", "regularizer", "optimizer", "schedule")
BUILTIN_PLUGINS = ("xpgrad.activations", "xpgrad.losses", "xpgrad.regularizers", "xpgrad.optimizers",
                   "xpgrad.schedules")
_HOOKS = {kind: f"register_{kind}es" if kind.endswith("s") else f"register_{kind}s" for kind in KINDS}


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered and was skipped."""


class DuplicateComponentError(ValueError):
    """Two plugins registered the same component name."""


class UnknownComponentError(KeyError):
    """No component of this kind has that name (a ``KeyError`` with a readable message)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes: ``name`` (canonical name), ``kind`` (``"activation"``, ``"loss"``,
    ``"regularizer"``, ``"optimizer"`` or ``"schedule"``), ``obj`` (the function,
    class or factory), ``plugin`` (the pluggy name of the plugin that registered
    it), ``distribution`` (the installed distribution it came from, ``"xpgrad"``
    for built-ins, None for objects registered in-process) and ``aliases``.
    """

    name: str
    kind: str
    obj: object = field(repr=False)
    plugin: str
    distribution: str | None = None
    aliases: tuple = ()

    @property
    def summary(self) -> str:
        """First line of the component's docstring (empty when it has none)."""
        doc = inspect.getdoc(self.obj) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


class _State:
    """Everything the registry holds; rebuilt from scratch by :func:`reload`."""

    def __init__(self):
        self.pm = None
        self.loading = False
        self.tables = {kind: {} for kind in KINDS}
        self.aliases = {kind: {} for kind in KINDS}
        self.dists = {}  # pluggy plugin name -> distribution name

    def ensure(self):
        if self.pm is None and not self.loading:
            self.loading = True
            try:
                self._load()
            finally:
                self.loading = False
        return self.pm

    def _load(self):
        import pluggy

        from . import hookspecs

        class XpgradPluginManager(pluggy.PluginManager):
            """pluggy's manager whose ``register``/``unregister`` keep the component tables current."""

            def register(pm, plugin, name=None):
                name = super().register(plugin, name)
                if name is not None:
                    try:
                        pm.check_pending()
                        self.collect(pm, plugin)
                    except Exception:
                        super().unregister(plugin)
                        raise
                return name

            def unregister(pm, plugin=None, name=None):
                out = super().unregister(plugin, name)
                self.rebuild(pm)
                return out

        pm = XpgradPluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        self.pm = pm
        blocked = {n.strip() for n in os.environ.get("XPGRAD_BLOCK_PLUGINS", "").split(",") if n.strip()}
        for name in blocked:
            pm.set_blocked(name)
        for name in BUILTIN_PLUGINS:
            self.dists[name] = "xpgrad"
            pm.register(importlib.import_module(name), name=name)
        if os.environ.get("XPGRAD_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() not in ("", "0", "false", "no"):
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=GROUP):
            dist = ep.dist.name if ep.dist is not None else None
            if ep.name in blocked or dist in blocked or pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
                self.dists[ep.name] = dist
                pm.register(plugin, name=ep.name)
            except Exception as exc:
                self.dists.pop(ep.name, None)
                warnings.warn(PluginWarning(
                    f"xpgrad plugin {ep.name!r} from distribution {dist!r} ({ep.value}) was skipped: "
                    f"{type(exc).__name__}: {exc}. Fix or uninstall it, or set XPGRAD_BLOCK_PLUGINS={ep.name}."),
                    stacklevel=2)

    def collect(self, pm, plugin):
        """Run ``plugin``'s hooks; add its components all at once, or none if one is rejected."""
        pname = pm.get_name(plugin)
        staged = []
        for kind in KINDS:
            hook = getattr(pm.hook, _HOOKS[kind])
            for impl in hook.get_hookimpls():
                if impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper):
                    cb = functools.partial(self._stage, staged, kind, pname)
                    impl.function(**{a: cb for a in impl.argnames})
        for kind, entry, override in staged:
            self._commit(kind, entry, override)

    def _stage(self, staged, kind, plugin, name, obj, *, aliases=(), override=False):
        noun = kind
        if not isinstance(name, str) or not name:
            raise TypeError(f"plugin {plugin!r}: a {noun} name must be a non-empty string, got {name!r}")
        if not callable(obj):
            raise TypeError(f"plugin {plugin!r}: {noun} {name!r} must be callable (a function, class or "
                            f"factory), got {type(obj).__name__}")
        aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
        if not override:
            for n in (name, *aliases):
                owner = self._owner(kind, n) or next(
                    (e.plugin for k, e, _ in staged if k == kind and n in (e.name, *e.aliases)), None)
                if owner is not None:
                    raise DuplicateComponentError(
                        f"{noun} name {n!r} is registered twice: by plugin {owner!r} and by plugin {plugin!r}. "
                        f"Rename one, or pass override=True in plugin {plugin!r} to replace it.")
        staged.append((kind, Entry(name, kind, obj, plugin, self.dists.get(plugin), aliases), override))

    def _owner(self, kind, name):
        canonical = self.aliases[kind].get(name, name)
        entry = self.tables[kind].get(canonical)
        return None if entry is None else entry.plugin

    def _commit(self, kind, entry, override):
        table, aliases = self.tables[kind], self.aliases[kind]
        if override:
            aliases.pop(entry.name, None)
        table[entry.name] = entry
        for a in entry.aliases:
            if override:  # an alias that replaces a name hides the old component under that name
                table.pop(a, None)
            aliases[a] = entry.name

    def rebuild(self, pm):
        self.tables = {kind: {} for kind in KINDS}
        self.aliases = {kind: {} for kind in KINDS}
        for _, plugin in pm.list_name_plugin():  # registration order; blocked names map to None
            if plugin is not None:
                self.collect(pm, plugin)


_state = _State()


def plugin_manager():
    """The ``pluggy.PluginManager("xpgrad")``, loaded with built-ins and installed plugins.

    Registering an object on it adds that object's components at once (a
    clash raises :class:`DuplicateComponentError` and leaves the object
    unregistered); unregistering removes them.

    >>> import xpgrad
    >>> class Plugin:
    ...     @xpgrad.hookimpl
    ...     def register_activations(self, register):
    ...         register("double", lambda x: 2 * x)
    >>> pm = xpgrad.plugin_manager()
    >>> _ = pm.register(Plugin(), name="doubler")
    >>> xpgrad.activation("double")(xpgrad.tensor([1.5])).tolist()
    [3.0]
    >>> _ = pm.unregister(name="doubler")
    >>> "double" in xpgrad.registry.activations
    False
    """
    return _state.ensure()


def reload():
    """Forget every plugin and load again, re-reading entry points and environment variables.

    >>> from xpgrad import registry
    >>> registry.reload()
    >>> "adam" in registry.optimizers
    True
    """
    global _state
    _state = _State()


class ComponentTable(Mapping):
    """Read-only mapping from component name to :class:`Entry` for one kind.

    Lookups also accept aliases (``losses["svm"]`` is the ``multiclass_svm``
    entry); iteration yields canonical names only. An unknown name raises
    :class:`UnknownComponentError` (a ``KeyError``) suggesting close matches.

    >>> from xpgrad import registry
    >>> registry.losses["svm"].name
    'multiclass_svm'
    """

    def __init__(self, kind):
        self.kind = kind

    def _table(self):
        _state.ensure()
        return _state.tables[self.kind]

    def __getitem__(self, name):
        table = self._table()
        entry = table.get(_state.aliases[self.kind].get(name, name))
        if entry is None:
            raise UnknownComponentError(_unknown_message(self.kind, name, table, _state.aliases[self.kind]))
        return entry

    def __contains__(self, name):
        table = self._table()
        return name in table or name in _state.aliases[self.kind]

    def __iter__(self):
        return iter(list(self._table()))

    def __len__(self):
        return len(self._table())

    @property
    def aliases(self) -> dict:
        """Alias -> canonical name."""
        self._table()
        return dict(_state.aliases[self.kind])

    def __repr__(self):
        return f"<xpgrad {self.kind} registry: {', '.join(sorted(self._table()))}>"


def _unknown_message(kind, name, table, aliases):
    names = sorted(table)
    close = difflib.get_close_matches(str(name), names + sorted(aliases), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (f"unknown {kind} {name!r}.{hint} Available {kind}s: {', '.join(names)}. A plugin may add more: "
            f"see `xpgrad list` and the plugins guide.")


activations = ComponentTable("activation")
losses = ComponentTable("loss")
regularizers = ComponentTable("regularizer")
optimizers = ComponentTable("optimizer")
schedules = ComponentTable("schedule")
_TABLES = {"activation": activations, "loss": losses, "regularizer": regularizers, "optimizer": optimizers,
           "schedule": schedules}


def table(kind) -> ComponentTable:
    """The read-only mapping of one kind (``"activation"``, ``"loss"``, ``"regularizer"``, ...).

    >>> from xpgrad import registry
    >>> registry.table("loss") is registry.losses
    True
    """
    if kind not in _TABLES:
        raise ValueError(f"unknown component kind {kind!r}; use one of {', '.join(KINDS)}")
    return _TABLES[kind]


def describe(kind=None) -> list:
    """Every registered :class:`Entry` (of one kind, or all), sorted by kind and name.

    >>> from xpgrad import registry
    >>> [e.name for e in registry.describe("schedule")][:2]
    ['constant', 'cosine']
    """
    kinds = KINDS if kind is None else (kind,)
    for k in kinds:
        if k not in _TABLES:
            raise ValueError(f"unknown component kind {k!r}; use one of {', '.join(KINDS)}")
    return [_TABLES[k][n] for k in kinds for n in sorted(_TABLES[k])]


# -- factories ------------------------------------------------------------------------------

def _check_keywords(kind, name, fn, skip, kw):
    """Raise TypeError for keywords ``fn`` does not take, listing the ones it does."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    params = list(sig.parameters.values())[skip:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        raise TypeError(f"{kind} {name!r} got unknown keyword(s) {', '.join(map(repr, unknown))}; "
                        f"it accepts: {', '.join(accepted) or 'no keywords'}")


def _callable_of(obj):
    """(what to call, what to read the signature from, how many leading arguments to skip)."""
    if inspect.isclass(obj) and hasattr(obj, "apply") and hasattr(obj, "backward"):  # a Function subclass
        return obj.apply, obj.forward, 2  # forward(ctx, x, ...)
    return obj, obj, 1


def activation(name, **kw):
    """The activation ``name`` as a callable ``Tensor -> Tensor`` with hyperparameters ``kw`` bound.

    >>> import xpgrad
    >>> f = xpgrad.activation("leaky_relu", negative_slope=0.1)
    >>> f(xpgrad.tensor([-2.0, 3.0])).tolist()
    [-0.2, 3.0]
    """
    entry = activations[name]
    call, sig_of, skip = _callable_of(entry.obj)
    _check_keywords("activation", entry.name, sig_of, skip, kw)
    return functools.partial(call, **kw) if kw else call


_REDUCTIONS = ("mean", "sum", "none")


def loss(name, **kw):
    """The loss ``name`` as a callable ``(scores, targets) -> Tensor`` with hyperparameters ``kw`` bound.

    ``reduction`` is one of ``"mean"`` (default), ``"sum"`` or ``"none"``.

    >>> import xpgrad
    >>> svm = xpgrad.loss("svm")
    >>> round(svm(xpgrad.tensor([[3.2, 5.1, -1.7]]), xpgrad.tensor([0])).item(), 4)
    2.9
    """
    entry = losses[name]
    call, sig_of, skip = _callable_of(entry.obj)
    _check_keywords("loss", entry.name, sig_of, skip + 1, kw)
    if "reduction" in kw and kw["reduction"] not in _REDUCTIONS:
        raise ValueError(f"loss {entry.name!r}: reduction={kw['reduction']!r} is not one of {_REDUCTIONS}")
    return functools.partial(call, **kw) if kw else call


def regularizer(name, strength, **kw):
    """The regularizer ``name`` as a callable ``parameters -> strength * R(parameters)``.

    >>> import xpgrad
    >>> reg = xpgrad.regularizer("l2", 0.5)
    >>> reg([xpgrad.tensor([1.0, 2.0])]).item()
    2.5
    """
    entry = regularizers[name]
    _check_keywords("regularizer", entry.name, entry.obj, 1, kw)
    return entry.obj(strength, **kw)


def optimizer(name, parameters, **hparams):
    """A new optimizer ``name`` over ``parameters`` (tensors, or dicts of parameter groups).

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizer("sgd", [w], lr=0.5)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.tolist()
    [0.0]
    """
    entry = optimizers[name]
    return entry.obj(parameters, **hparams)


def schedule(name, optimizer, **kw):
    """A learning-rate scheduler ``name`` that drives ``optimizer``'s param groups.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizer("sgd", [w], lr=0.1)
    >>> sched = xpgrad.schedule("linear", opt, total_steps=4)
    >>> sched.step(); sched.get_last_lr()
    [0.075]
    """
    entry = schedules[name]
    return entry.obj(optimizer, **kw)
