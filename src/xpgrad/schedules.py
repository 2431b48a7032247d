"""Learning-rate schedules: pure functions of the step, and the scheduler that applies them.

A schedule is a function ``f(step, lr, **kw) -> float`` where ``lr`` is the
initial rate α₀ and ``step`` counts from 0. :class:`Scheduler` writes
``f(t)`` into every parameter group of an optimizer — at construction for
t = 0, then once per :meth:`Scheduler.step`. Every schedule accepts
``warmup_steps=W``: the rate rises linearly as α₀·t/W for t < W, then the
schedule runs on t − W (with ``total_steps`` shortened to T − W).

>>> import xpgrad
>>> w = xpgrad.tensor([1.0], requires_grad=True)
>>> opt = xpgrad.optimizer("sgd", [w], lr=1.0)
>>> sched = xpgrad.schedule("cosine", opt, total_steps=4)
>>> [round(sched.get_last_lr()[0], 4)] + [round((sched.step(), sched.get_last_lr()[0])[1], 4) for _ in range(5)]
[1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
"""

from __future__ import annotations

import bisect
import inspect
import math
from collections.abc import Mapping

from .autograd import run_eagerly
from .hookspecs import Collector
from .hyperparameters import check, check_number, check_sequence, integer, number, rules, sequence

__all__ = ["ScheduleFactory", "Scheduler", "constant_lr", "cosine_lr", "cosine_restarts_lr", "inverse_sqrt_lr",
           "linear_lr", "lr_function", "step_lr"]

# The functions below join it with @builtin(name); the registry stores each wrapped in its ScheduleFactory.
builtin = Collector("schedule", wrap=lambda fn: ScheduleFactory(fn))


# -- the pure functions -----------------------------------------------------------------------

@builtin("constant")
def constant_lr(step, lr):
    """α_t = α₀ for every t.

    >>> constant_lr(7, 0.1)
    0.1
    """
    return lr


# Rules for hyperparameters with these names in every schedule (a plugin's too); a schedule
# function adds its own with @rules(...) (see xpgrad.hyperparameters).
_RULES = {
    "warmup_steps": integer(min=0),
    "total_steps": integer(min=1),
    "min_lr": number(min=0),
    "gamma": number(min=0),
    "period": integer(min=1),
    "period_mult": integer(min=1),
}


@builtin("step")
@rules(milestones=sequence(integer=True, min=0, increasing=True))
def step_lr(step, lr, milestones=(30, 60, 90), gamma=0.1):
    """Step decay: α_t = α₀·γᵏ where k is the number of milestones ≤ t (e.g. ×0.1 at 30, 60 and 90).

    >>> [step_lr(t, 1.0, milestones=[2, 4], gamma=0.5) for t in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    return lr * gamma ** bisect.bisect_right(milestones, step)


@builtin("cosine")
def cosine_lr(step, lr, total_steps, min_lr=0.0):
    """Cosine decay: α_t = m + ½(α₀ − m)(1 + cos(tπ/T)) for t < T, then m = ``min_lr`` (0 gives the lecture's form).

    >>> [round(cosine_lr(t, 1.0, total_steps=2), 3) for t in range(4)]
    [1.0, 0.5, 0.0, 0.0]
    """
    if step >= total_steps:
        return float(min_lr)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * step / total_steps))


@builtin("linear")
def linear_lr(step, lr, total_steps, min_lr=0.0):
    """Linear decay: α_t = m + (α₀ − m)(1 − t/T) for t < T, then m = ``min_lr`` (default 0).

    >>> [linear_lr(t, 1.0, total_steps=4) for t in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    if step >= total_steps:
        return float(min_lr)
    return min_lr + (lr - min_lr) * (1.0 - step / total_steps)


@builtin("inverse_sqrt")
def inverse_sqrt_lr(step, lr):
    """Inverse square root: α_t = α₀ / √(t + 1), with t counted from 0 (so α_0 = α₀).

    >>> [inverse_sqrt_lr(t, 1.0) for t in (0, 3, 8)]
    [1.0, 0.5, 0.3333333333333333]
    """
    return lr / math.sqrt(step + 1)


@builtin("cosine_restarts", aliases=("sgdr",))
def cosine_restarts_lr(step, lr, period, period_mult=1, min_lr=0.0):
    """SGDR: cosine decay from α₀ to ``min_lr`` over a cycle, then a restart at α₀.

    The first cycle lasts ``period`` steps and each next one ``period_mult``
    times longer; within a cycle of length Tᵢ at position t_cur,
    α = m + ½(α₀ − m)(1 + cos(π·t_cur/Tᵢ)).

    >>> [round(cosine_restarts_lr(t, 1.0, period=2), 3) for t in range(5)]
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """
    length = period
    while step >= length:
        step -= length
        length *= period_mult
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * step / length))


def _schedule_parameters(fn):
    """The keyword parameters of ``f(step, lr, **kw)``."""
    return list(inspect.signature(fn).parameters.values())[2:]


def lr_function(fn, lr, warmup_steps=0, **kw):
    """``fn`` with its hyperparameters and linear warmup bound: a pure ``f(step) -> lr``.

    ``fn`` is a schedule function or the name of a registered schedule.

    >>> f = lr_function("linear", 1.0, warmup_steps=2, total_steps=6)
    >>> [f(t) for t in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if isinstance(fn, str):
        from . import registry

        entry = registry.schedules[fn]
        fn = getattr(entry.obj, "fn", None)
        if fn is None:
            raise TypeError(f"schedule {entry.name!r} (plugin {entry.plugin!r}) is not a ScheduleFactory, so it has "
                            "no pure function; call xpgrad.schedule() instead")
    _check_schedule_keywords(fn, warmup_steps, kw)
    if "total_steps" in kw:
        kw = {**kw, "total_steps": kw["total_steps"] - warmup_steps}

    def f(step):
        if step < warmup_steps:
            return lr * step / warmup_steps
        return fn(step - warmup_steps, lr, **kw)

    return f


def _check_schedule_keywords(fn, warmup_steps, kw):
    """Names, then the shared rules and the function's own ``hyperparameter_rules``, then total_steps > warmup."""
    name = getattr(fn, "__name__", "schedule")
    params = _schedule_parameters(fn)
    accepted = [p.name for p in params]
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        raise TypeError(f"schedule {name} got unknown keyword(s) {', '.join(map(repr, unknown))}; it accepts: "
                        f"{', '.join(['warmup_steps', *accepted])}")
    missing = [p.name for p in params if p.default is p.empty and p.name not in kw]
    if missing:
        raise TypeError(f"schedule {name} needs {', '.join(missing)} (e.g. total_steps=the number of steps "
                        "you will train for)")
    check(f"schedule {name}", {**_RULES, **getattr(fn, "hyperparameter_rules", {})},
          {"warmup_steps": warmup_steps, **kw})
    total = kw.get("total_steps")
    if total is not None and total <= warmup_steps:
        raise ValueError(f"schedule {name}: total_steps={total!r} must be larger than warmup_steps={warmup_steps}")


# -- the scheduler -----------------------------------------------------------------------

class Scheduler:
    """Writes ``fn(t)`` into the ``"lr"`` of each of ``optimizer``'s parameter groups.

    α₀ is each group's learning rate when the scheduler is made (kept as the
    group's ``"initial_lr"``). The lr for t = 0 is written at construction;
    :meth:`step` advances t by one (call it once per optimizer step, after
    ``optimizer.step()``).

    :meth:`step` is marked :func:`xpgrad.run_eagerly` (in subclasses that
    override it too): inside a step compiled with :func:`xpgrad.compile` it
    runs at every call, so the rate advances at every replayed step and the
    optimizer reads the new rate at replay time.

    Parameters
    ----------
    optimizer : Optimizer
        Anything with ``param_groups`` holding ``"lr"``.
    fn : callable
        ``fn(step, lr, **kw) -> float``.
    warmup_steps : int
        Linear warmup length W (0: none).
    **kw
        The schedule's hyperparameters (``total_steps``, ``milestones``, ``gamma``, ``min_lr``, ...).

    Examples
    --------
    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optimizer("sgd", [w], lr=0.1)
    >>> sched = Scheduler(opt, step_lr, milestones=[1], gamma=0.5)
    >>> sched.step(); opt.param_groups[0]["lr"]
    0.05
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("step")
        if callable(own):  # an override must run at every call of a compiled step too
            cls.step = run_eagerly(own)

    def __init__(self, optimizer, fn, *, warmup_steps=0, **kw):
        groups = getattr(optimizer, "param_groups", None)
        if not groups:
            raise TypeError(f"a scheduler needs an optimizer with param_groups, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.fn = fn
        self.warmup_steps = warmup_steps
        self.kwargs = kw
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in groups]
        self._fns = [lr_function(fn, base, warmup_steps, **kw) for base in self.base_lrs]
        self.last_step = 0
        self._write()

    def lr_at(self, step) -> list:
        """The learning rate of each group at ``step`` (pure: changes nothing)."""
        return [float(f(step)) for f in self._fns]

    def _write(self):
        self._last = self.lr_at(self.last_step)
        for group, lr in zip(self.optimizer.param_groups, self._last, strict=False):
            group["lr"] = lr

    @run_eagerly
    def step(self) -> None:
        """Advance one step and write the new learning rates (at every call of a compiled step too)."""
        self.last_step += 1
        self._write()

    def get_last_lr(self) -> list:
        """The learning rates written last, one per parameter group."""
        return list(self._last)

    def state_dict(self) -> dict:
        """JSON-friendly state: the step counter, α₀ per group and the hyperparameters."""
        kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.kwargs.items()}
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs), "warmup_steps": self.warmup_steps,
                "kwargs": kw}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a saved state: restores t and α₀ and rewrites the learning rates.

        Everything is checked before anything changes: ``last_step`` an int
        >= 0, ``base_lrs`` one number >= 0 per parameter group, and the saved
        ``warmup_steps``/``kwargs``, when present, the schedule's own rules. The
        scheduler keeps the hyperparameters it was built with (build it with
        the ones you want to continue with).
        """
        where = "Scheduler.load_state_dict"
        if not isinstance(state, Mapping) or not {"last_step", "base_lrs"} <= set(state):
            raise TypeError(f"{where}: expected the dict of state_dict(), with 'last_step' and 'base_lrs', got "
                            f"{state!r:.200}")
        last_step = check_number(where, "last_step", state["last_step"], integer=True, min=0)
        base_lrs = check_sequence(where, "base_lrs", state["base_lrs"], min=0)
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(f"{where}: the state has {len(base_lrs)} base_lrs, the optimizer "
                             f"{len(self.optimizer.param_groups)} parameter groups")
        saved_kw = state.get("kwargs", {})
        if not isinstance(saved_kw, Mapping):
            raise TypeError(f"{where}: kwargs must be a dict of hyperparameters, got {type(saved_kw).__name__}")
        try:  # the saved hyperparameters, through the schedule's own checks
            lr_function(self.fn, 1.0, state.get("warmup_steps", 0), **saved_kw)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: the saved hyperparameters do not fit: {exc}") from None
        fns = [lr_function(self.fn, base, self.warmup_steps, **self.kwargs) for base in base_lrs]
        self.last_step, self.base_lrs, self._fns = int(last_step), [float(b) for b in base_lrs], fns
        self._write()

    def __repr__(self):
        return (f"Scheduler({getattr(self.fn, '__name__', self.fn)}, step={self.last_step}, "
                f"lr={self._last}, warmup_steps={self.warmup_steps})")


class ScheduleFactory:
    """Turns a pure schedule function into what the registry stores: ``factory(optimizer, **kw) -> Scheduler``.

    >>> import xpgrad
    >>> def halving(step, lr):
    ...     '''α_t = α₀ / 2ᵗ'''
    ...     return lr / 2 ** step
    >>> factory = ScheduleFactory(halving)
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> sched = factory(xpgrad.optimizer("sgd", [w], lr=1.0))
    >>> sched.step(); sched.get_last_lr()
    [0.5]
    """

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "schedule")
        self.__doc__ = fn.__doc__
        params = [inspect.Parameter("optimizer", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                  inspect.Parameter("warmup_steps", inspect.Parameter.KEYWORD_ONLY, default=0)]
        params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in _schedule_parameters(fn)]
        self.__signature__ = inspect.Signature(params)

    def __call__(self, optimizer, **kw):
        return Scheduler(optimizer, self.fn, **kw)

    def __repr__(self):
        return f"ScheduleFactory({self.__name__})"


register_schedules = builtin.hookimpl()
