"""Functional forms of the layers: ``xpgrad.nn.functional``."""
