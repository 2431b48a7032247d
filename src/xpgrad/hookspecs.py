"""The plugin hooks: one callback-style hook per component kind.

A plugin is any module or object with functions decorated by
:data:`xpgrad.hookimpl` whose names match the hooks below. Each hook receives
one argument, ``register``, and calls it once per component::

    import xpgrad

    @xpgrad.hookimpl
    def register_activations(register):
        register("square", lambda x: x * x)

``register(name, obj, *, aliases=(), override=False)`` adds ``obj`` under
``name`` (and each alias). Registering a taken name raises an error naming
both plugins unless ``override=True`` is passed.

Always import the marker from xpgrad: a marker made with another project
name registers silently and is never called.

xpgrad's own modules register their built-ins the same way, through a
:class:`Collector` next to the definitions. The kinds, their plurals, hook
names and built-in modules are listed once, in ``_KINDS`` below (exported as
:data:`xpgrad.registry.KINDS` and :func:`xpgrad.registry.kind`); a test checks
that there is one hookspec per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

__all__ = ["BUILTIN_PLUGINS", "KINDS", "PROJECT", "Collector", "DuplicateComponentError", "Kind", "PluginWarning",
           "UnknownComponentError", "hookimpl", "hookspec", "kind", "register_activations", "register_backends",
           "register_losses", "register_optimizers", "register_regularizers", "register_schedules"]

PROJECT = "xpgrad"

hookspec = pluggy.HookspecMarker(PROJECT)
"""Decorator that declares the hooks below (xpgrad's own use; plugins need only ``hookimpl``)."""

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator that marks a plugin function as an implementation of an xpgrad hook.

>>> import xpgrad
>>> @xpgrad.hookimpl
... def register_activations(register):
...     register("cube", lambda x: x * x * x)
"""


@dataclass(frozen=True)
class Kind:
    """One kind of registrable thing: its name, plural, hook and the module of its built-ins.

    Everything that lists kinds (the hook names, the tables, the built-in
    plugins, ``xpgrad list --kind``) is derived from :data:`KINDS`.
    """

    name: str
    plural: str
    builtin_module: str

    @property
    def hook(self) -> str:
        """The hook name, ``register_<plural>``."""
        return f"register_{self.plural}"


_KINDS = (
    Kind("backend", "backends", "xpgrad.backend.builtins"),  # first: components may make arrays on import
    Kind("activation", "activations", "xpgrad.activations"),
    Kind("loss", "losses", "xpgrad.losses"),
    Kind("regularizer", "regularizers", "xpgrad.regularizers"),
    Kind("optimizer", "optimizers", "xpgrad.optimizers"),
    Kind("schedule", "schedules", "xpgrad.schedules"),
)
_KIND = {k.name: k for k in _KINDS}
KINDS = tuple(_KIND)
"""Every kind's name, in registration order."""
BUILTIN_PLUGINS = tuple(k.builtin_module for k in _KINDS)
"""The modules holding the built-in hook implementations (registered before any entry point)."""


def kind(name: str) -> Kind:
    """The :class:`Kind` called ``name``; a ValueError listing the kinds otherwise.

    >>> from xpgrad import registry
    >>> registry.kind("loss").plural, registry.kind("loss").hook
    ('losses', 'register_losses')
    """
    k = _KIND.get(name) if isinstance(name, str) else None
    if k is None:
        raise ValueError(f"unknown component kind {name!r}; use one of {', '.join(KINDS)}")
    return k


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered and was skipped."""


class DuplicateComponentError(ValueError):
    """Two plugins registered the same component name."""


class UnknownComponentError(KeyError):
    """No component of this kind has that name (a ``KeyError`` with a readable message)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


MISSING = object()  # an argument a plugin left out of ``register()``


def check_register_call(plugin, noun, name, obj, extra, unknown, aliases, override) -> tuple:
    """Check one ``register(name, obj, *, aliases=(), override=False)`` call of a hook; return the aliases as a tuple.

    Missing or extra arguments, a name that is not a non-empty string, aliases
    that are not strings and a non-bool ``override`` raise a TypeError naming
    the plugin and the value (whether ``obj`` fits its kind is the registry's check).
    """
    if name is MISSING or obj is MISSING or extra or unknown:
        got = ", ".join([*(repr(a) for a in (name, obj, *extra) if a is not MISSING),
                         *(f"{k}={v!r}" for k, v in unknown.items())])
        raise TypeError(f"plugin {plugin!r}: the {noun} hook's register() takes (name, {noun}, *, aliases=(), "
                        f"override=False), got ({got})")
    if not isinstance(name, str) or not name:
        raise TypeError(f"plugin {plugin!r}: a {noun} name must be a non-empty string, got {name!r}")
    if isinstance(aliases, str):
        aliases = (aliases,)
    elif not isinstance(aliases, (tuple, list, set, frozenset)):
        raise TypeError(f"plugin {plugin!r}: {noun} {name!r}: aliases must be a string or a tuple of strings, "
                        f"got {aliases!r}")
    bad = [a for a in aliases if not isinstance(a, str) or not a]
    if bad:
        raise TypeError(f"plugin {plugin!r}: {noun} {name!r}: every alias must be a non-empty string, got "
                        f"{bad[0]!r} in aliases={aliases!r}")
    if not isinstance(override, bool):
        raise TypeError(f"plugin {plugin!r}: {noun} {name!r}: override must be True or False, got {override!r}")
    return tuple(aliases)


# Defined here, beside the hooks, but documented, raised and caught as the registry's.
for _obj in (Kind, kind, PluginWarning, DuplicateComponentError, UnknownComponentError):
    _obj.__module__ = "xpgrad.registry"
del _obj


@hookspec
def register_activations(register):
    """Add activations: ``register(name, fn)`` where ``fn(x, **hyperparameters) -> Tensor``.

    ``fn`` may also be a :class:`xpgrad.Function` subclass; it is then called
    as ``fn.apply(x, **hyperparameters)``.
    """


@hookspec
def register_losses(register):
    """Add losses: ``register(name, fn)`` where ``fn(scores, targets, *, reduction="mean", **hp) -> Tensor``.

    Set ``fn.targets = "same_shape"`` when targets are float values shaped
    like the scores (default: ``"class_indices"``, an integer label per row).
    """


@hookspec
def register_regularizers(register):
    """Add regularizers: ``register(name, factory)``, ``factory(strength, **hp)(parameters) -> scalar Tensor``."""


@hookspec
def register_optimizers(register):
    """Add optimizers: ``register(name, cls)`` with ``cls(parameters, **hyperparameters)``.

    Subclass :class:`xpgrad.optimizers.Optimizer` to inherit parameter groups,
    validation and ``state_dict``.
    """


@hookspec
def register_schedules(register):
    """Add learning-rate schedules: ``register(name, factory)`` with ``factory(optimizer, **kw) -> Scheduler``.

    Wrap a pure function ``f(step, lr, **kw) -> float`` with
    :class:`xpgrad.schedules.ScheduleFactory` to get warmup and state handling.
    """


@hookspec
def register_backends(register):
    """Add array backends: ``register(name, backend_class, aliases=())``.

    ``backend_class`` subclasses :class:`xpgrad.backend.Backend`; it is
    created on first use, so a backend whose library is missing here can be
    registered (it is then listed as unusable by ``xpgrad info``). The
    backend is selected like the built-ins, with ``set_backend(name)``,
    ``XPGRAD_BACKEND`` or ``--backend``.
    """


class Collector:
    """The built-ins of one kind, registered where they are defined and handed over by one hook implementation.

    Decorate each built-in with ``@builtin(name, aliases=...)`` (or call
    :meth:`add`); :meth:`hookimpl` returns the module's hook implementation,
    which registers them in definition order. ``wrap`` turns each collected
    object into what the table stores (e.g. a schedule function into its factory).

    >>> from xpgrad.hookspecs import Collector
    >>> builtin = Collector("activation")
    >>> @builtin("double", aliases=("twice",))
    ... def double(x):
    ...     return 2 * x
    >>> register_activations = builtin.hookimpl()
    >>> register_activations.__name__, builtin.names()
    ('register_activations', ['double'])
    """

    def __init__(self, kind_name: str, wrap: Callable[[Any], Any] | None = None):
        self.kind = kind(kind_name)
        self.wrap = wrap
        self._items: list[tuple[str, Any, tuple]] = []

    def __call__(self, name: str | None = None, *, aliases: tuple = ()) -> Callable[[Any], Any]:
        """Decorator registering the function or class under ``name`` (default: its ``__name__``)."""
        def decorate(obj):
            self.add(name or obj.__name__, obj, aliases=aliases)
            return obj
        return decorate

    def add(self, name: str, obj: Any, aliases: tuple = ()) -> None:
        """Collect ``obj`` under ``name`` and ``aliases``."""
        self._items.append((name, obj, (aliases,) if isinstance(aliases, str) else tuple(aliases)))

    def names(self) -> list[str]:
        """The collected names, in definition order."""
        return [name for name, _, _ in self._items]

    def hookimpl(self) -> Callable[..., None]:
        """The ``register_<plural>`` hook implementation registering everything collected."""
        def register_all(register):
            for name, obj, aliases in self._items:
                register(name, obj if self.wrap is None else self.wrap(obj), aliases=aliases)

        register_all.__name__ = register_all.__qualname__ = self.kind.hook
        register_all.__doc__ = f"Register the built-in {self.kind.plural}: {', '.join(self.names())}."
        return hookimpl(register_all)
