"""What the public-API fuzz test accepts as a failure, and how it reports one it does not.

A call into xpgrad with bad input may fail only with an xpgrad error type (a class
defined in ``xpgrad``), a ``ValueError`` or a ``TypeError`` (or a ``KeyError``
subclass of xpgrad's for an unknown name), and the message must name something
of the input (a token: the argument, the op, a value, a shape or a dtype).
Anything else - a raw ``IndexError``/``AttributeError``/``SystemError``/
``ZeroDivisionError``/``KeyError`` from inside, a ``SystemExit`` - is a finding.

With ``XPGRAD_FUZZ_COLLECT=path`` findings are appended to ``path`` (one JSON
line each: input, exception, innermost xpgrad frame) instead of failing, so one
run lists many of them.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

import hypothesis
from hypothesis import HealthCheck

_EXAMPLES = int(os.environ.get("XPGRAD_FUZZ_EXAMPLES", "0") or 0)

FUZZ = hypothesis.settings(
    max_examples=_EXAMPLES or 50,
    deadline=None,
    derandomize=not _EXAMPLES,  # the suite sees the same examples every run; set XPGRAD_FUZZ_EXAMPLES to explore
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)

_COLLECT = os.environ.get("XPGRAD_FUZZ_COLLECT")
_SHOW = bool(os.environ.get("XPGRAD_FUZZ_SHOW"))  # print every accepted failure's message


class Finding(AssertionError):
    """The library failed in a way the fuzz test does not accept."""


def _where(exc: BaseException) -> str:
    """The innermost frame inside src/xpgrad (or the innermost frame at all) as ``file:line``."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/xpgrad/" in f.filename.replace("\\", "/") and "/tests/" not in f.filename]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    path = f.filename.replace("\\", "/")
    path = path[path.find("src/xpgrad/"):] if "src/xpgrad/" in path else path
    return f"{path}:{f.lineno}"


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def report(kind: str, what: str, call: str, exc: BaseException | None = None, note: str = "") -> None:
    """Fail with a :class:`Finding`, or append it to the collection file."""
    exc_text = "" if exc is None else f"{type(exc).__name__}: {str(exc)[:300]}"
    where = "" if exc is None else _where(exc)
    if _COLLECT:
        with open(_COLLECT, "a") as f:
            f.write(json.dumps({"kind": kind, "what": what, "call": call[:400], "exception": exc_text,
                                "where": where, "note": note}) + "\n")
        return
    raise Finding(f"{what}: {call}\n  -> {exc_text or note} at {where}") from exc


def allowed_type(exc: BaseException, extra: tuple = ()) -> bool:
    """Whether ``exc`` is an acceptable kind of failure for bad input."""
    if isinstance(exc, (IndexError, AttributeError, SystemError, ZeroDivisionError, SystemExit, RecursionError)):
        return False  # numpy's AxisError is a ValueError *and* an IndexError: raw, refused too
    if isinstance(exc, KeyError):
        return type(exc).__module__.startswith("xpgrad")  # UnknownComponentError, not a raw KeyError
    if isinstance(exc, (ValueError, TypeError)) or isinstance(exc, extra):
        return True
    return type(exc).__module__.startswith("xpgrad") and isinstance(exc, Exception)


# Python's own messages for a bug inside the library (a wrong index, a None where a tuple was meant): a
# ValueError/TypeError that carries one of them - re-raised by an op wrapper, say - is a raw error too.
INTERNAL_PHRASES = ("tuple indices must be", "list indices must be", "not all arguments converted",
                    "unsupported operand type", "not supported between instances of", "object is not subscriptable",
                    "object is not iterable", "has no attribute", "index out of range", "division by zero",
                    "modulo by zero", "object is not callable", "missing 1 required positional argument",
                    "unhashable type")


def tokens_of(*values: Any) -> set[str]:
    """Strings a message may contain to name ``values``: reprs, type names, shapes in several spellings."""
    out: set[str] = set()
    for v in values:
        if isinstance(v, str):
            out.update({v, repr(v)})  # an empty string is named by its repr, ''
            continue
        if isinstance(v, tuple) and all(isinstance(i, int) for i in v):  # a shape
            out.update({str(v), str(list(v)), "x".join(map(str, v)) or "()", f"shape {v}"})
            if len(v) == 1:
                out.add(f"({v[0]})")
        out.add(_short(v, 80))
        if isinstance(v, float) and not math.isfinite(v):
            out.update({"nan", "inf", "finite"})
        if not isinstance(v, (int, float, str, tuple, list)) or isinstance(v, bool):
            out.add(type(v).__name__)  # "bytes", "dict", "object", "NoneType": the kind of odd value
    return {t for t in out if t}


def names_one(message: str, tokens: set[str]) -> bool:
    """Whether ``message`` contains one of ``tokens`` as a whole word (``1`` does not match ``float16``)."""
    for t in tokens:
        pattern = re.escape(t.lower())
        if t[0].isalnum():
            pattern = r"(?<![\w.])" + pattern
        if t[-1].isalnum():
            pattern += r"(?![\w])"
        if re.search(pattern, message.lower()):
            return True
    return False


def check(call: Callable[[], Any], what: str, describe: str, names: Iterable[Any], *,
          extra: tuple = ()) -> tuple[bool, Any]:
    """Run ``call``; return (True, result) or (False, exception) when it failed acceptably, else report.

    ``names`` are the tokens (see :func:`tokens_of`) of which the message must contain at least one.
    """
    try:
        return True, call()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - classifying every failure is the point
        if not allowed_type(exc, extra):
            report("raw-error", what, describe, exc)
            return False, exc
        leaked = next((p for p in INTERNAL_PHRASES if p in str(exc)), None)
        if leaked:
            report("leaked-internal-error", what, describe, exc, note=f"Python's own message {leaked!r} leaked out")
            return False, exc
        toks = tokens_of(*names)
        if _SHOW:
            print(f"[fuzz] {what}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.__stderr__)
        if not names_one(str(exc), toks):
            report("message-names-nothing", what, describe, exc,
                   note=f"message names none of {sorted(toks)[:12]}")
        return False, exc
