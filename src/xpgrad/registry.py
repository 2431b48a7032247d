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
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

# The kinds are listed once, beside their hooks; they and the errors a registration can raise are
# part of this module's API too.
from .hookspecs import (
    _KIND,
    _KINDS,
    BUILTIN_PLUGINS,
    KINDS,
    MISSING,
    DuplicateComponentError,
    Kind,
    PluginWarning,
    UnknownComponentError,
    check_register_call,
    kind,
)

__all__ = ["BUILTIN_PLUGINS", "KINDS", "ComponentTable", "DuplicateComponentError", "Entry", "Kind",
           "PluginWarning", "UnknownComponentError", "activation", "activations", "backends", "describe",
           "ensure_loaded", "kind", "loss", "losses", "optimizer", "optimizers", "plugin_manager", "regularizer",
           "regularizers", "reload", "schedule", "schedules", "table"]

GROUP = "xpgrad"


@dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes: ``name`` (canonical name), ``kind`` (one of :data:`KINDS`), ``obj`` (the function,
    class or factory), ``plugin`` (the pluggy name of the plugin that registered it), ``distribution``
    (its distribution, ``"xpgrad"`` for built-ins, None in-process) and ``aliases``.
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


_lock = threading.RLock()  # one loader at a time; re-entrant for plugins that use the registry while loading


class _State:
    """Everything the registry holds; rebuilt from scratch by :func:`reload`."""

    def __init__(self):
        self.pm = None
        self.loading = False
        self.ready = False
        self.dists = {}  # pluggy plugin name -> distribution name
        self.clear()

    def clear(self):
        self.tables, self.aliases = {k: {} for k in KINDS}, {k: {} for k in KINDS}

    def ensure(self):
        if self.ready:  # the fast path, taken on every table lookup once loaded
            return self.pm
        with _lock:
            if not self.ready and not self.loading:
                self.loading = True
                try:
                    self._load()
                    self.ready = True
                except BaseException:
                    # A broken built-in or an interrupt: drop the half-filled tables; the next use loads afresh.
                    self.pm = None
                    self.dists.clear()
                    self.clear()
                    raise
                finally:
                    self.loading = False
        return self.pm

    def _load(self):
        import pluggy

        from . import hookspecs

        class XpgradPluginManager(pluggy.PluginManager):
            """pluggy's manager whose ``register``/``unregister`` keep the component tables current."""

            def register(pm, plugin, name=None):
                with _lock:
                    name = super().register(plugin, name)
                    if name is not None:
                        try:
                            pm.check_pending()
                            self.collect(pm, plugin)
                        except BaseException:  # SystemExit from a hook too: nothing of the plugin stays
                            super().unregister(plugin)
                            raise
                    return name

            def unregister(pm, plugin=None, name=None):
                with _lock:
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
            except KeyboardInterrupt:  # the user's Ctrl-C is not the plugin's fault: stop loading
                raise
            except BaseException as exc:  # noqa: BLE001 - sys.exit(), GeneratorExit or a custom BaseException
                # in a plugin's import or hook is isolated like any other plugin error: the host keeps working.
                self.dists.pop(ep.name, None)
                warnings.warn(PluginWarning(
                    f"xpgrad plugin {ep.name!r} from distribution {dist!r} ({ep.value}) was skipped: "
                    f"{_describe_failure(exc)}. Fix or uninstall it, or set XPGRAD_BLOCK_PLUGINS={ep.name}."),
                    stacklevel=2)

    def collect(self, pm, plugin):
        """Run ``plugin``'s hooks; add its components all at once, or none if one is rejected."""
        pname = pm.get_name(plugin)
        staged = []
        for k in _KINDS:
            for impl in getattr(pm.hook, k.hook).get_hookimpls():
                if impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper):
                    cb = functools.partial(self._stage, staged, k.name, pname)
                    impl.function(**{a: cb for a in impl.argnames})
        # Backends first: if the backend layer refuses one, none of the plugin's components are in yet.
        staged.sort(key=lambda item: item[0] != "backend")
        for k, entry, override in staged:
            if k == "backend":
                from .backend import register_backend

                register_backend(entry.name, entry.obj, aliases=entry.aliases, plugin=entry.plugin,
                                 distribution=entry.distribution, override=override)
        for k, entry, override in staged:
            self._commit(k, entry, override)

    def _stage(self, staged, kind_name, plugin, name=MISSING, obj=MISSING, *extra, aliases=(), override=False,
               **unknown):
        noun = kind_name  # "activation", "backend", ... in messages
        aliases = check_register_call(plugin, noun, name, obj, extra, unknown, aliases, override)
        if kind_name == "backend":
            from .backend import Backend

            if not (isinstance(obj, type) and issubclass(obj, Backend)):
                raise TypeError(f"plugin {plugin!r}: backend {name!r} must be a subclass of "
                                f"xpgrad.backend.Backend, got {obj!r}")
        elif not callable(obj):
            raise TypeError(f"plugin {plugin!r}: {noun} {name!r} must be callable (a function, class or "
                            f"factory), got {type(obj).__name__}")
        if not override:
            for n in (name, *aliases):
                owner = self._owner(kind_name, n) or next(
                    (e.plugin for k, e, _ in staged if k == kind_name and n in (e.name, *e.aliases)), None)
                if owner is not None:
                    raise DuplicateComponentError(
                        f"{noun} name {n!r} is registered twice: by plugin {owner!r} and by plugin {plugin!r}. "
                        f"Rename one, or pass override=True in plugin {plugin!r} to replace it.")
        staged.append((kind_name, Entry(name, kind_name, obj, plugin, self.dists.get(plugin), aliases), override))

    def _owner(self, kind_name, name):
        canonical = self.aliases[kind_name].get(name, name)
        entry = self.tables[kind_name].get(canonical)
        return None if entry is None else entry.plugin

    def _commit(self, kind_name, entry, override):
        table, aliases = self.tables[kind_name], self.aliases[kind_name]
        if override:
            aliases.pop(entry.name, None)
        table[entry.name] = entry
        for a in entry.aliases:
            if override:  # an alias that replaces a name hides the old component under that name
                table.pop(a, None)
            aliases[a] = entry.name

    def rebuild(self, pm):
        before = set(self.tables["backend"])
        self.clear()
        for name, plugin in pm.list_name_plugin():  # registration order; blocked names map to None
            try:
                if plugin is not None:
                    self.collect(pm, plugin)
            except BaseException as exc:  # noqa: BLE001 - its hooks ran again and failed: drop it, keep the rest
                if isinstance(exc, KeyboardInterrupt) or name in BUILTIN_PLUGINS:
                    raise
                import pluggy

                pluggy.PluginManager.unregister(pm, plugin)  # pluggy's own: no second rebuild
                warnings.warn(PluginWarning(f"xpgrad plugin {name!r} from distribution {self.dists.pop(name, None)!r} "
                                            f"was dropped, its hooks failed when run again: {_describe_failure(exc)}"),
                              stacklevel=3)
        from .backend import unregister_backend

        for name in before - set(self.tables["backend"]):  # their plugin is gone: so are they
            unregister_backend(name)


def _describe_failure(exc: BaseException) -> str:
    """What a plugin did wrong, in words: ``"it called sys.exit(3)"`` or ``"RuntimeError: boom"``."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_state = _State()


def ensure_loaded() -> None:
    """Load the built-ins and the installed plugins and run every hook, once (idempotent, thread-safe).

    Lookups call it for you; the backend layer calls it the first time it
    needs its table of backends. A second thread waits for the first to finish.

    >>> from xpgrad import registry
    >>> registry.ensure_loaded(); "numpy" in registry.backends
    True
    """
    _state.ensure()


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

    Backends registered before stay known to :mod:`xpgrad.backend` (arrays
    may still live on them); registering the same class again is harmless.

    >>> from xpgrad import registry
    >>> registry.reload()
    >>> "adam" in registry.optimizers
    True
    """
    global _state
    with _lock:
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

    def _tables(self):
        """(names, aliases) of one loaded state, read together even if another thread calls reload()."""
        state = _state
        state.ensure()
        return state.tables[self.kind], state.aliases[self.kind]

    def _table(self):
        return self._tables()[0]

    def __getitem__(self, name):
        table, aliases = self._tables()
        try:
            entry = table.get(aliases.get(name, name))
        except TypeError:  # an unhashable name (a list, a dict): unknown like any other
            entry = None
        if entry is None:
            raise UnknownComponentError(_unknown_message(self.kind, name, table, aliases))
        return entry

    def __contains__(self, name):
        table, aliases = self._tables()
        try:
            return name in table or name in aliases
        except TypeError:
            return False

    def __iter__(self):
        return iter(list(self._table()))

    def __len__(self):
        return len(self._table())

    @property
    def aliases(self) -> dict:
        """Alias -> canonical name."""
        return dict(self._tables()[1])

    def __repr__(self):
        return f"<xpgrad {self.kind} registry: {', '.join(sorted(self._table()))}>"


def _unknown_message(kind, name, table, aliases):
    names = sorted(table)
    close = difflib.get_close_matches(str(name), names + sorted(aliases), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (f"unknown {kind} {name!r}.{hint} Available {_KIND[kind].plural}: {', '.join(names)}. "
            f"A plugin may add more: see `xpgrad list` and the plugins guide.")


_TABLE_OF = {k: ComponentTable(k) for k in KINDS}
backends, activations, losses, regularizers, optimizers, schedules = (_TABLE_OF[k.name] for k in _KINDS)


def table(kind_name: str) -> ComponentTable:
    """The read-only mapping of one kind (one of :data:`KINDS`: ``"activation"``, ``"loss"``, ...).

    >>> from xpgrad import registry
    >>> registry.table("loss") is registry.losses
    True
    """
    return _TABLE_OF[kind(kind_name).name]


def describe(kind_name: str | None = None) -> list:
    """Every registered :class:`Entry` (of one kind, or all), sorted by kind (in :data:`KINDS` order) and name.

    >>> from xpgrad import registry
    >>> [e.name for e in registry.describe("schedule")][:2]
    ['constant', 'cosine']
    """
    kinds = KINDS if kind_name is None else (kind(kind_name).name,)
    return [_TABLE_OF[k][n] for k in kinds for n in sorted(_TABLE_OF[k])]


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
    return optimizers[name].obj(parameters, **hparams)


def schedule(name, optimizer, **kw):
    """A learning-rate scheduler ``name`` that drives ``optimizer``'s param groups.

    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizer("sgd", [w], lr=0.1)
    >>> sched = xpgrad.schedule("linear", opt, total_steps=4)
    >>> sched.step(); sched.get_last_lr()
    [0.075]
    """
    return schedules[name].obj(optimizer, **kw)
