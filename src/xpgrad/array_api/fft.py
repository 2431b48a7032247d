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

from ..autograd.ops import fft as _fft

fft = _fft.fft
ifft = _fft.ifft
fftn = _fft.fftn
ifftn = _fft.ifftn
rfft = _fft.rfft
irfft = _fft.irfft
rfftn = _fft.rfftn
irfftn = _fft.irfftn
hfft = _fft.hfft
ihfft = _fft.ihfft
fftfreq = _fft.fftfreq
rfftfreq = _fft.rfftfreq
fftshift = _fft.fftshift
ifftshift = _fft.ifftshift

__all__ = ["fft", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifftn", "ifftshift", "ihfft", "irfft", "irfftn",
           "rfft", "rfftfreq", "rfftn"]
