"""``xpgrad.compile``: record a step once, replay it as a flat program (placeholder: runs eagerly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CompiledFunction", "compile"]


class CompiledFunction:
    """A step function wrapped by :func:`compile` (placeholder while the compiler lands: runs eagerly)."""

    def __init__(self, fn: Callable[..., Any], *, cache_size: int = 8, warn_retraces: int = 4):
        self.fn = fn
        self.__wrapped__ = fn
        self.cache_size = cache_size
        self.warn_retraces = warn_retraces
        self.stats = {"traces": 0, "replays": 0, "eager": 0, "fallbacks": []}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.stats["eager"] += 1
        return self.fn(*args, **kwargs)

    def eager(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function without compiling."""
        return self.fn(*args, **kwargs)


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 8,
            warn_retraces: int = 4) -> Any:
    """Compile a step function (placeholder while the compiler lands: it runs eagerly)."""
    if fn is None:
        return lambda f: CompiledFunction(f, cache_size=cache_size, warn_retraces=warn_retraces)
    return CompiledFunction(fn, cache_size=cache_size, warn_retraces=warn_retraces)
