"""The flat path of :class:`~xpgrad.optimizers.Optimizer`: one update per buffer of parameters.

An optimizer's parameters of one group, backend, device and real floating
dtype live in one :class:`xpgrad.FlatBuffer` (their ``.data`` are views into
``buf.data``, their gradients land in ``buf.grad``), and their state arrays
(velocities, moments) in one flat array per buffer and name. ``update(p, g,
state, group)`` is then called once per buffer, with ``p`` a tensor over
``buf.data``, ``g`` the flat gradient and ``state`` the buffer's flat state,
instead of once per parameter: a constant number of backend calls per step.

The per-parameter view stays the truth that ``state_dict()`` sees: each
``optimizer.state[id(p)]`` entry holds *views* of the flat state arrays (and
copies of its counts), so an update through either path is seen by the other.
Whenever those views are no longer there (``load_state_dict`` replaced the
state, an update rebound an entry, the per-parameter path added a buffer) the
flat state is gathered again from the entries before the next flat update;
when the entries cannot be gathered (different counts, shapes or dtypes) that
step takes the per-parameter path. Nothing is lost and nothing is applied twice.

Checking every entry at every step would cost more than the update of a small
network, so ``optimizer.state`` is a :class:`StateDict`: a dict whose changes,
and those of its entries, move one shared count. While the count is where it
was after the last flat update, the entries are known to be in sync and a
step only checks that each parameter still holds its view and its gradient
slot (one loop). State replaced by plain dicts (``optimizer.state = {...}``)
counts nothing and is checked entry by entry at every step instead.
"""

from __future__ import annotations

from .. import backend as _backend
from ..autograd.creation import as_tensor
from ..autograd.flat import FlatBuffer
from ..autograd.tensor import Tensor

__all__ = ["FlatGroup", "FlatParams", "StateDict", "plan"]


class StateDict(dict):
    """A dict that counts its changes: ``optimizer.state`` and each of its per-parameter entries.

    ``clock`` is a one-item list shared by the state and the entries made with
    :meth:`entry`; every change through the dict API (setting, deleting,
    ``update``, ``pop``, ``clear``, ...) of any of them adds one to
    ``clock[0]``. A flat buffer whose entries were in sync at some count knows
    they still are while the count has not moved: one comparison per step
    instead of a look at every entry. Copies and pickles are plain dicts.

    >>> from xpgrad.optimizers.flat_state import StateDict
    >>> state = StateDict()
    >>> entry = state.entry()
    >>> state[1] = entry; entry["step"] = 3
    >>> state.clock[0], entry.clock is state.clock, state == {1: {"step": 3}}
    (2, True, True)
    """

    __slots__ = ("clock",)

    def __init__(self, *args, clock: list | None = None, **kwargs):
        self.clock = [0] if clock is None else clock
        dict.update(self, *args, **kwargs)

    def entry(self, *args, **kwargs) -> StateDict:
        """A new per-parameter entry whose changes count on this state's clock."""
        return StateDict(*args, clock=self.clock, **kwargs)

    def __reduce__(self):
        return dict, (dict(self),)

    def copy(self) -> dict:
        return dict(self)


def _counting(name: str):
    base = getattr(dict, name)

    def method(self, *args, **kwargs):
        self.clock[0] += 1
        return base(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = base.__doc__
    return method


for _name in ("__setitem__", "__delitem__", "__ior__", "clear", "pop", "popitem", "setdefault", "update"):
    setattr(StateDict, _name, _counting(_name))
_set = dict.__setitem__  # the flat path's own writes into entries it keeps in sync: not counted


class FlatParams:
    """The parameters of one buffer, their flat state and the per-parameter views of it."""

    def __init__(self, buf: FlatBuffer):
        self.buf = buf
        self.params = buf.tensors
        self.ids = tuple(id(p) for p in buf.tensors)
        self.tensor = as_tensor(buf.data, backend=buf.backend)  # what update() gets as ``p``
        self.tensor.data = buf.data  # shared, never a copy
        self.state: dict | None = None  # the flat state; None: gather it from the entries first
        self.homes: dict = {}  # name -> flat state array whose views sit in the entries
        self.scalars: tuple = ()  # names of the counts and numbers
        self.entries: tuple[dict, ...] = ()  # the per-parameter dicts of optimizer.state, as last written
        self.views: dict = {}  # name -> the views of homes[name], one per parameter
        self.keys: frozenset = frozenset()  # the names of the flat state the entries were last written with
        # The (entry, name, view) triples that _synced checks, flattened so that one loop checks them all.
        self.checks: tuple = ()
        self.seen: tuple = (None, -1)  # (optimizer.state, its clock count) when the entries were last in sync

    def ready(self, state: dict) -> bool:
        """Whether a flat update may run now: every gradient in its slot and the state in sync (gathered if need be).

        The caller has checked that the buffer is intact (:meth:`FlatGroup.current`).
        """
        for t, g in zip(self.params, self.buf.grad_views, strict=True):  # buf.grads_ready(), inlined
            if t.grad is not g:
                return False
        if self.state is not None and self._synced(state):
            return True
        return self._gather(state)

    def fast(self, state: dict) -> bool:
        """Intact, every gradient in its slot and the state in sync: ``intact() and ready(state)``, in one loop.

        The check of every step when nothing changed since the last one. False
        does not mean "not ready": the caller then asks :meth:`FlatGroup.current`
        and :meth:`ready`, which rebuild and gather where needed.
        """
        entries, buf = self.entries, self.buf
        if self.state is None or len(entries) != len(self.params):
            return False  # not materialized yet (first step, or just gathered)
        seen_state, count = self.seen
        if state is seen_state and state.clock[0] == count:  # no entry changed since they were last in sync
            for t, v, g in zip(self.params, buf.views, buf.grad_views, strict=True):
                if t.data is not v or t.grad is not g:
                    return False
            return True
        get = state.get
        for t, v, g, i, entry in zip(self.params, buf.views, buf.grad_views, self.ids, entries, strict=True):
            if t.data is not v or t.grad is not g or get(i) is not entry:
                return False
        return self._contents_synced()

    def intact(self) -> bool:
        """Whether every parameter still holds its view of the buffer (``buf.intact()``, inlined)."""
        for t, v in zip(self.params, self.buf.views, strict=True):
            if t.data is not v:
                return False
        return True

    def _synced(self, state: dict) -> bool:
        """Whether every entry of ``state`` is still the dict holding this buffer's views and counts.

        Runs at every step: plain loops over the parameters (cheaper than
        anything else here on CPython 3.11+), and one length sum instead of a
        length per entry (every name of the flat state is checked in every
        entry below, so equal sums mean equal lengths).
        """
        get = state.get
        for i, entry in zip(self.ids, self.entries, strict=False):  # entries is () right after a gather
            if get(i) is not entry:
                return False  # an entry was replaced (load_state_dict) or removed
        return self._contents_synced()

    def _contents_synced(self) -> bool:
        """The second half of :meth:`_synced`: the entries (known to be the right dicts) hold the flat state."""
        flat = self.state
        assert flat is not None
        entries = self.entries
        if sum(map(len, entries)) != len(flat) * len(entries):
            return False  # an entry got a buffer the flat state does not have, or lost one
        for entry, key, view in self.checks:
            if entry.get(key) is not view:
                return False  # rebound: state[key] = new array
        for key in self.scalars:
            value = flat[key]  # the very object update() wrote into every entry: an equal copy gathers again
            for entry in entries:
                if entry.get(key) is not value:
                    return False
        return True

    def _gather(self, state: dict) -> bool:
        """Build the flat state from the per-parameter entries; False when they cannot be flattened."""
        buf, params = self.buf, self.params
        entries: list[dict] = [state.get(id(p)) or {} for p in params]
        if not any(entries):
            self._reset({}, {})
            return True
        if not all(entries):
            return False  # some parameters have state, others not (one was skipped): per parameter
        keys = set(entries[0])
        if any(set(e) != keys for e in entries):
            return False
        xp = buf.backend.xp
        homes, flat = {}, {}
        for key in entries[0]:
            values = [e[key] for e in entries]
            if _backend.is_array(values[0]):
                for p, v in zip(params, values, strict=True):
                    if (not _backend.is_array(v) or _backend.backend_of(v) is not buf.backend
                            or tuple(v.shape) != tuple(p.data.shape) or v.dtype != values[0].dtype
                            or v.device != buf.data.device):
                        return False
                homes[key] = flat[key] = xp.concat([xp.reshape(v, (-1,)) for v in values])
            else:
                first = values[0]
                if any(_backend.is_array(v) or type(v) is not type(first) or v != first for v in values):
                    return False
                flat[key] = first
        self._reset(flat, homes)
        return True

    def _reset(self, flat: dict, homes: dict) -> None:
        self.state, self.homes = flat, homes
        self.scalars = ()
        self.entries, self.views = (), {}  # written by materialize() after the next update
        self.keys, self.checks = frozenset(), ()

    def update(self, optimizer, group: dict, state: dict) -> None:
        """One call of ``optimizer.update`` over the whole buffer, then the views and counts brought up to date."""
        buf, p, flat = self.buf, self.tensor, self.state
        assert flat is not None
        g = buf.grad
        wd = group.get("weight_decay", 0.0)
        if wd and not optimizer.decoupled_weight_decay:
            g = g + wd * buf.data  # a new array: the gradients are never changed
        optimizer.update(p, g, flat, group)
        data = buf.data
        if p.data is not data:  # the update rebound p.data instead of changing it in place: keep the values
            data[...] = p.data
            p.data = data
        fresh = not self.entries or flat.keys() != self.keys  # first update, or a name added, removed or replaced
        for key, home in self.homes.items():
            value = flat.get(key)
            if value is not home and value is not None:  # rebound (state[key] = new): copy into the viewed array
                home[...] = value
                flat[key] = home
        if fresh:
            self._materialize(state)
        else:
            entries = self.entries
            for key in self.scalars:
                value = flat[key]
                for entry in entries:
                    _set(entry, key, value)  # uncounted: the flat path's own write
        # The entries are in sync now: remember the count (a plain dict, set by user code, counts nothing).
        self.seen = (state, state.clock[0]) if isinstance(state, StateDict) else (None, -1)
        buf.bump_versions()

    def _materialize(self, state: dict) -> None:
        """Point every per-parameter entry at views of the flat state arrays (after the state got new names)."""
        flat = self.state
        assert flat is not None
        buf, xp = self.buf, self.buf.backend.xp
        homes: dict = {}
        scalars = []
        for key, value in flat.items():
            if _backend.is_array(value) and tuple(value.shape) == tuple(buf.data.shape):
                homes[key] = value
            else:
                scalars.append(key)
        views = {key: tuple(_views(xp, home, buf)) for key, home in homes.items()}
        entries: list[dict] = []
        clock = state.clock if isinstance(state, StateDict) else None
        for i, p in enumerate(self.params):
            entry = state.get(id(p))
            if entry is None or (clock is not None and getattr(entry, "clock", None) is not clock):
                entry = state[id(p)] = StateDict(clock=clock) if clock is not None else {}  # its changes count
            entry.clear()
            for key in flat:
                entry[key] = views[key][i] if key in views else flat[key]
            entries.append(entry)
        self.homes, self.scalars = homes, tuple(scalars)
        self.views, self.entries = views, tuple(entries)
        self.keys = frozenset(flat)
        self.checks = tuple((entry, key, vs[i]) for key, vs in views.items() for i, entry in enumerate(entries))

    def release(self) -> None:
        """Detach the parameters from this buffer's gradient slots (their values stay where they are)."""
        self.buf.release()


def _views(xp, flat, buf: FlatBuffer):
    for t, at in zip(buf.tensors, buf.offsets, strict=True):
        shape = tuple(t.data.shape)
        n = 1
        for d in shape:
            n *= int(d)
        yield xp.reshape(flat[at:at + n], shape, copy=False)


class FlatGroup:
    """One parameter group split into flat buffers and the parameters that keep the per-parameter path."""

    def __init__(self, group: dict, flats: list[FlatParams], loose: list[Tensor]):
        self.group = group
        self.params = group["params"]
        self.count = len(self.params)
        self.flats = flats
        self.loose = loose
        # One buffer holding the whole group in its order: zero_grads checks the views in the same loop.
        self.whole = (len(flats) == 1 and not loose and len(flats[0].params) == len(self.params)
                      and all(a is b for a, b in zip(flats[0].params, self.params, strict=True)))

    def current(self, group: dict) -> bool:
        """Whether the plan still fits ``group``: same parameter list, every buffer intact."""
        params = group["params"]
        if group is not self.group or params is not self.params or len(params) != self.count:
            return False
        for f in self.flats:
            if not f.intact():
                return False
        return True

    def zero_grads(self, group: dict) -> bool:
        """Set ``.grad`` of every parameter of ``group`` to None; return :meth:`current` (whether the plan fits)."""
        params = group["params"]
        if group is not self.group or params is not self.params or len(params) != self.count:
            for p in params:
                p.grad = None
            return False
        if self.whole:
            intact = True
            for p, v in zip(params, self.flats[0].buf.views, strict=True):
                p.grad = None
                if p.data is not v:
                    intact = False
            return intact
        for p in params:
            p.grad = None
        for f in self.flats:
            if not f.intact():
                return False
        return True

    def fast(self, group: dict, state: dict) -> bool:
        """Whether the plan fits ``group`` and every buffer passes :meth:`FlatParams.fast` (a flat update may run)."""
        params = group["params"]
        if group is not self.group or params is not self.params or len(params) != self.count:
            return False
        for f in self.flats:
            if not f.fast(state):
                return False
        return True

    def release(self) -> None:
        for f in self.flats:
            f.release()


def plan(group: dict, flatten: bool) -> FlatGroup:
    """Split ``group``'s parameters into flat buffers, one per backend, device and real floating dtype.

    Leaves that require grad join a buffer; the rest (and everything when
    ``flatten`` is False, or on a backend whose arrays cannot be written in
    place) keep the per-parameter path.
    """
    params = group["params"]
    if not flatten:
        return FlatGroup(group, [], list(params))
    kinds: list[tuple] = []  # (backend, device, dtype, members)
    loose: list[Tensor] = []
    for p in params:
        b = p.backend
        if not (p.is_leaf and p.requires_grad and b.is_floating(p.data.dtype)):
            loose.append(p)
            continue
        dev, dt = p.data.device, p.data.dtype
        for kb, kdev, kdt, members in kinds:
            if kb is b and kdev == dev and kdt == dt:
                members.append(p)
                break
        else:
            kinds.append((b, dev, dt, [p]))
    flats = []
    for *_, members in kinds:
        try:
            flats.append(FlatParams(FlatBuffer(members)))
        except (TypeError, ValueError):  # arrays that cannot be viewed or written in place: per parameter
            loose.extend(members)
    if loose and flats:
        order = {id(p): i for i, p in enumerate(params)}
        loose.sort(key=lambda p: order[id(p)])
    return FlatGroup(group, flats, loose)
