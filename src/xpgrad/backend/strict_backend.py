"""array-api-strict: the standard and nothing more, for testing that code stays portable."""

from __future__ import annotations

from typing import Any

from .base import Backend, BackendError

__all__ = ["STRICT_API_VERSION", "StrictBackend"]

STRICT_API_VERSION = "2024.12"  # the standard xpgrad targets; array-api-strict 2.6 defaults to a newer one


class StrictBackend(Backend):
    """The reference implementation of the standard, with fake devices to test device checks."""

    multi_device = True

    def load(self) -> Any:
        try:
            import array_api_strict as xp
        except ImportError:
            raise BackendError(f"backend {self.name!r} needs the array-api-strict package: "
                               "pip install 'xpgrad[test]'") from None
        xp.set_array_api_strict_flags(api_version=STRICT_API_VERSION)
        type(self).array_types = (type(xp.asarray(0)),)
        return xp
