"""Functional forms of the layers, with PyTorch's names and signatures."""

from .conv import avg_pool2d, conv2d, max_pool2d

__all__ = ["avg_pool2d", "conv2d", "max_pool2d"]
