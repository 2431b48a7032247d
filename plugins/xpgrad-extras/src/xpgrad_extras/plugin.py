"""The entry point: xpgrad calls these hooks to collect the extras' components."""

import xpgrad
from xpgrad.schedules import ScheduleFactory

from .components import GroupLasso, Lion, huber, mish, one_cycle


@xpgrad.hookimpl
def register_activations(register):
    register("mish", mish)


@xpgrad.hookimpl
def register_losses(register):
    register("huber", huber, aliases=("smooth_l1",))


@xpgrad.hookimpl
def register_regularizers(register):
    register("group_lasso", GroupLasso)


@xpgrad.hookimpl
def register_optimizers(register):
    register("lion", Lion)


@xpgrad.hookimpl
def register_schedules(register):
    register("one_cycle", ScheduleFactory(one_cycle))
