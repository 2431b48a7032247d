"""Extra components for xpgrad, registered as a plugin through the ``xpgrad`` entry-point group."""

from .components import GroupLasso, Lion, huber, mish, one_cycle

__all__ = ["GroupLasso", "Lion", "huber", "mish", "one_cycle"]
__version__ = "0.1.0"
