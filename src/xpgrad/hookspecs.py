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
"""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec", "register_activations", "register_losses", "register_optimizers",
           "register_regularizers", "register_schedules"]

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
