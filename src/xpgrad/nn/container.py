"""``Sequential``: layers applied one after another."""

from __future__ import annotations

from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """Apply modules in order: y = fₙ(… f₂(f₁(x))).

    Children are named ``"0"``, ``"1"``, … (so state-dict keys read
    ``"0.weight"``), or by the keys of a single dict argument. Supports
    ``len``, iteration, integer indexing and slicing (a slice is a new
    ``Sequential`` sharing the same layers).

    Examples
    --------
    >>> import xpgrad
    >>> from xpgrad import nn
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    >>> len(net), type(net[-1]).__name__, net(xpgrad.ones((5, 2))).shape
    (3, 'Linear', (5, 3))
    >>> net
    Sequential(
      (0): Linear(in_features=2, out_features=4, bias=True)
      (1): ReLU()
      (2): Linear(in_features=4, out_features=3, bias=True)
    )
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, m in modules[0].items():
                self.add_module(str(name), _check(m, name))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _check(m, i))

    def forward(self, x):
        plan = self.__dict__.get("_plan")
        if plan is None:
            plan = self._make_plan()
        for step in plan:
            x = step(x)
        return x

    def _make_plan(self):
        """The callables ``forward`` runs: the children, with each pair a layer offers to fuse fused.

        Each child is asked :meth:`Module.fuse_next` about the child after it
        (a plain Linear fuses with a following built-in ReLU into one graph
        node); the answer replaces the pair and gives the same values and
        gradients.
        """
        mods = [m for m in self._modules.values() if m is not None]
        plan, i = [], 0
        while i < len(mods):
            fused = mods[i].fuse_next(mods[i + 1]) if i + 1 < len(mods) else None
            if fused is not None:
                plan.append(fused)
                i += 2
            else:
                plan.append(mods[i])
                i += 1
        self.__dict__["_plan"] = plan
        return plan

    def _structure_changed(self):
        self.__dict__["_plan"] = None

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self._modules)), _check(module, len(self._modules)))
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        mods = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(mods[index]))
        try:
            return mods[index][1]
        except (IndexError, TypeError):
            raise IndexError(f"Sequential index {index!r} out of range for {len(mods)} layers") from None


    def __setitem__(self, index, module):
        """Replace the layer at integer position ``index``."""
        names = list(self._modules)
        try:
            name = names[index]
        except (IndexError, TypeError):
            raise IndexError(f"Sequential index {index!r} out of range for {len(names)} layers") from None
        self._store(self._modules, name, _check(module, index))  # in place: the order is kept


def _check(m, where):
    if not isinstance(m, Module):
        raise TypeError(f"Sequential: entry {where!r} is a {type(m).__name__}, not an nn.Module "
                        "(wrap functions in a Module, e.g. nn.Activation('relu'))")
    return m
