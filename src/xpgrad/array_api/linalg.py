"""``xpgrad.array_api.linalg``: the standard's linear-algebra extension (being written)."""

from __future__ import annotations

__all__: list[str] = []
