"""``xpgrad.array_api.fft``: the standard's FFT extension (being written)."""

from __future__ import annotations

__all__: list[str] = []
