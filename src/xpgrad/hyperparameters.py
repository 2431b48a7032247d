"""Hyperparameter checks shared by every component, built-in or from a plugin.

A component declares a *rule* per hyperparameter (``number(min=0)``,
``integer(min=1)``, ``sequence(increasing=True)``, ``choice("mean", "sum")``,
``flag()``); :func:`check` applies the rules to the values given, naming the
component, the parameter and the accepted form. Every rule refuses strings
and booleans where a number is expected (:class:`HyperparameterTypeError`, a
TypeError that is also a ValueError), and NaN, infinities and out-of-range
values (ValueError). Functions keep their rules in the attribute
``hyperparameter_rules`` (set by :func:`rules`), classes in a class attribute
of the same name. Classes (optimizers, regularizers) check at construction,
functions (activations, losses, schedules) when called or bound
(:func:`check_keywords` checks keywords against a component's rules before
it runs).

>>> from xpgrad.hyperparameters import check_number
>>> check_number("Adam", "eps", 1e-8, min=0, open_min=True)
1e-08
>>> check_number("Adam", "eps", 0.0, min=0, open_min=True)
Traceback (most recent call last):
...
ValueError: Adam: invalid eps=0.0; eps must be a positive number, got 0.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["HyperparameterTypeError", "check", "check_keywords", "check_number", "check_sequence", "choice", "flag",
           "integer", "number", "rules", "sequence"]

Rule = Callable[[str, str, Any], Any]


class HyperparameterTypeError(TypeError, ValueError):
    """A hyperparameter of the wrong type (a string, a bool, None...): a TypeError that is also a ValueError,
    so code that catches ValueError for any invalid hyperparameter keeps working."""


def _form(min, max, open_min, open_max, integer):
    noun = "int" if integer else "number"
    if min is not None and max is not None:
        return f"a {noun} in {'(' if open_min else '['}{min}, {max}{')' if open_max else ']'}"
    if min == 0:
        return f"a {'positive' if open_min else 'non-negative'} {noun}"
    if min is not None:
        return f"a{'n' if integer else ''} {noun} {'>' if open_min else '>='} {min}"
    if max is not None:
        return f"a{'n' if integer else ''} {noun} {'<' if open_max else '<='} {max}"
    return "an int" if integer else "a finite number"


def _numeric_text(value):
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


def check_number(owner: str, name: str, value: Any, *, min: float | None = None, max: float | None = None,
                 open_min: bool = False, open_max: bool = False, integer: bool = False) -> Any:
    """Return ``value`` if it is a real number (an int when ``integer``) in range, else raise.

    TypeError for a non-number (a string, a bool, None, a list), ValueError
    for NaN, ±inf or a value outside [min, max] (the ends excluded with
    ``open_min``/``open_max``). The message names ``owner``, ``name`` and the value.

    >>> check_number("step", "gamma", 0.5, min=0, open_min=True)
    0.5
    >>> try:
    ...     check_number("SGD", "lr", "0.1", min=0)
    ... except TypeError as e:
    ...     print(e)
    SGD: invalid lr='0.1'; lr must be a non-negative number, got a str (pass it without quotes: lr=0.1)
    """
    form = _form(min, max, open_min, open_max, integer)
    wanted = numbers.Integral if integer else numbers.Real
    head = f"{owner}: invalid {name}={value!r}; {name} must be {form}, got"
    if isinstance(value, bool) or not isinstance(value, wanted):
        hint = f" (pass it without quotes: {name}={str(value).strip()})" if _numeric_text(value) else ""
        raise HyperparameterTypeError(f"{head} a {type(value).__name__}{hint}")
    v: float = int(value) if isinstance(value, numbers.Integral) else float(value)  # ints of any size are finite
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{head} {value!r}, which is not finite")
    if ((min is not None and (v <= min if open_min else v < min))
            or (max is not None and (v >= max if open_max else v > max))):
        raise ValueError(f"{head} {value!r}")
    return value


def check_sequence(owner: str, name: str, value: Any, *, length: int | None = None, increasing: bool = False,
                   **number_kw: Any) -> tuple:
    """Return ``value`` as a tuple after checking its length and each item with :func:`check_number`.

    ``increasing=True`` also requires strictly increasing items (sorted, no repeats).

    >>> check_sequence("step", "milestones", [30, 60], integer=True, min=0, increasing=True)
    (30, 60)
    >>> check_sequence("step", "milestones", [60, 30], integer=True, min=0, increasing=True)
    Traceback (most recent call last):
    ...
    ValueError: step: invalid milestones=[60, 30]; milestones must be strictly increasing, e.g. [30, 60]
    """
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise HyperparameterTypeError(f"{owner}: invalid {name}={value!r}; {name} must be a list or tuple of "
                                      f"numbers, got a {type(value).__name__}")
    items = tuple(value)
    if length is not None and len(items) != length:
        raise ValueError(f"{owner}: invalid {name}={value!r}; {name} must have {length} items, got {len(items)}")
    for i, item in enumerate(items):
        check_number(owner, f"{name}[{i}]", item, **number_kw)
    if increasing and any(b <= a for a, b in zip(items, items[1:], strict=False)):
        raise ValueError(f"{owner}: invalid {name}={value!r}; {name} must be strictly increasing, "
                         f"e.g. {sorted(set(items))}")
    return items


# -- rules: the checks above with their limits bound ------------------------------------------

def number(**limits: Any) -> Rule:
    """A rule: a finite real number within ``limits`` (keywords of :func:`check_number`)."""
    return lambda owner, name, value: check_number(owner, name, value, **limits)


def integer(**limits: Any) -> Rule:
    """A rule: an int within ``limits``."""
    return lambda owner, name, value: check_number(owner, name, value, integer=True, **limits)


def sequence(**kw: Any) -> Rule:
    """A rule: a sequence of numbers (keywords of :func:`check_sequence`)."""
    return lambda owner, name, value: check_sequence(owner, name, value, **kw)


def choice(*options: Any) -> Rule:
    """A rule: one of ``options``."""
    def rule(owner, name, value):
        if not any(value == o and type(value) is type(o) for o in options):
            allowed = ", ".join(map(repr, options))
            raise ValueError(f"{owner}: invalid {name}={value!r}; {name} must be one of {allowed}")
        return value
    return rule


def flag() -> Rule:
    """A rule: True or False."""
    def rule(owner, name, value):
        if not isinstance(value, bool):
            raise HyperparameterTypeError(f"{owner}: invalid {name}={value!r}; {name} must be True or False, "
                                          f"got a {type(value).__name__}")
        return value
    return rule


def rules(**declared: Rule) -> Callable:
    """Decorator: declare the rules of a function component's hyperparameters (``fn.hyperparameter_rules``)."""
    def mark(fn):
        fn.hyperparameter_rules = declared
        return fn
    return mark


def check(owner: str, declared: Mapping[str, Rule], values: Mapping[str, Any]) -> None:
    """Apply the rule of each name in ``values`` that ``declared`` has a rule for (others pass).

    >>> try:
    ...     check("leaky_relu", {"negative_slope": number()}, {"negative_slope": "x"})
    ... except TypeError as e:
    ...     print(e)
    leaky_relu: invalid negative_slope='x'; negative_slope must be a finite number, got a str
    """
    for name, value in values.items():
        rule = declared.get(name)
        if rule is not None:
            rule(owner, name, value)


def check_keywords(owner: str, component: Any, values: Mapping[str, Any]) -> None:
    """Check ``values`` against ``component.hyperparameter_rules`` (nothing to check if it has none).

    >>> import xpgrad
    >>> check_keywords("elu", xpgrad.activations.elu, {"alpha": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: elu: invalid alpha=nan; alpha must be a non-negative number, got nan, which is not finite
    """
    check(owner, getattr(component, "hyperparameter_rules", {}), values)
