"""Data-parallel training over MPI (CPU) and NCCL (GPU): every rank holds the whole model and a shard of each batch.

Launch a script with the ``mpiexec`` next to the environment's Python
(``pip install -e ".[mpi]"`` provides it)::

    mpiexec -n 4 python train.py

and in it call :func:`init` first, broadcast the model from rank 0
(:func:`broadcast_parameters`), wrap the optimizer in
:class:`DistributedOptimizer` (it averages the gradients, weighted by each
rank's samples) and let only rank 0 (:func:`is_main`) print and write files.
Without a launcher every function works as in a job of one rank.

>>> import xpgrad.distributed as dist
>>> dist.init(), dist.rank(), dist.world_size(), dist.is_main()
(1, 0, 1, True)
"""

from .batchnorm import SyncBatchNorm1d, convert_sync_batchnorm
from .collectives import all_gather_object, all_reduce, all_reduce_numbers, barrier, broadcast_object
from .launch import init, is_initialized, is_main, local_rank, local_world_size, rank, world_size
from .optimizer import DistributedOptimizer, StepFigures
from .sync import broadcast_optimizer_state, broadcast_parameters, check_in_sync

__all__ = [
    "DistributedOptimizer", "StepFigures", "SyncBatchNorm1d", "all_gather_object", "all_reduce", "all_reduce_numbers",
    "barrier", "broadcast_object", "broadcast_optimizer_state", "broadcast_parameters", "check_in_sync",
    "convert_sync_batchnorm", "init", "is_initialized", "is_main", "local_rank", "local_world_size", "rank",
    "world_size",
]
