"""``__array_namespace_info__`` (being written)."""

from __future__ import annotations

from typing import Any

__all__ = ["__array_namespace_info__"]


def __array_namespace_info__() -> Any:
    raise NotImplementedError
