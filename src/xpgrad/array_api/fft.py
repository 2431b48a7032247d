"""``xpgrad.array_api.fft``: the standard's FFT extension, differentiable (also ``xpgrad.fft``).

The transforms record a graph node whose backward is the adjoint transform
(see :mod:`xpgrad.autograd.ops.fft`); ``fftshift``/``ifftshift`` are
differentiable; ``fftfreq``/``rfftfreq`` make new arrays on the current
backend and record nothing.

>>> import xpgrad
>>> x = xpgrad.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64", requires_grad=True)
>>> xpgrad.sum(xpgrad.fft.irfft(xpgrad.fft.rfft(x)) * x).backward()   # irfft(rfft(x)) == x: d/dx sum(x^2)
>>> x.grad.tolist()
[2.0, 4.0, 6.0, 8.0]
"""

from __future__ import annotations

from ..autograd.ops.fft import (fft, fftfreq, fftn, fftshift, hfft, ifft, ifftn, ifftshift, ihfft, irfft, irfftn,
                                rfft, rfftfreq, rfftn)

__all__ = ["fft", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifftn", "ifftshift", "ihfft", "irfft", "irfftn",
           "rfft", "rfftfreq", "rfftn"]
