"""The ``xpgrad`` command: ``train``, ``list``, ``info`` and ``plugin new``.

``xpgrad train`` with no options trains a two-layer ReLU network (100 hidden
units) on the generated spiral dataset with softmax cross-entropy, L2
regularization, Adam and a cosine learning-rate schedule: no download, a
second or two on a laptop, and about 99 % training accuracy. ``--hidden 0``
trains a linear classifier instead, which cannot separate the spiral's arms.

Exit statuses: 0 on success; 2 with a one-line message on stderr for every
mistake in the options or the input files (an unknown component, a bad
``--KIND-args`` value, a component ``xpgrad train`` cannot use, a negative
learning rate, missing or damaged data files, an output path that cannot be
written, a missing optional dependency, a checkpoint that does not fit), all
found before training starts; 1 with a one-line message for a loss that
became NaN and for any other error (``--debug`` shows its traceback instead);
130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from .. import backend as B
from ..checkpoint import CheckpointError
from . import commands
from .checks import COMPONENT_KINDS, UsageError, _one_line
from .models import MODELS
from .train import CONFIG_KEYS, DATASETS, DEFAULTS, IMAGE_DEFAULTS, TOY_DATASETS
from .train import run as _train

__all__ = ["CONFIG_KEYS", "DATASETS", "DEFAULTS", "IMAGE_DEFAULTS", "TOY_DATASETS", "UsageError", "build_parser",
           "main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) with exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


_ARGS_EXAMPLES = {"activation": "negative_slope=0.1 (leaky_relu), pieces=3 (maxout)",
                  "loss": "margin=0.5 (svm), delta=2 (huber)",
                  "optimizer": "betas=0.9,0.99 eps=1e-7 (adam), momentum=0.95 (momentum)",
                  "schedule": "period=500 (sgdr), milestones=1000,2000 gamma=0.5 (step)",
                  "regularizer": "beta=0.5 (elastic_net)"}


def _add_train(sub):
    p = sub.add_parser("train", help="train a classifier (default: 2-layer ReLU net on the spiral)",
                       description="Train a fully connected classifier. Every name option accepts any "
                                   "registered component, including those of installed plugins (see `xpgrad list`); "
                                   "--KIND-args KEY=VALUE ... sets its parameters (numbers, true/false, none, "
                                   "comma-separated tuples).")
    d = DEFAULTS
    add = p.add_argument
    add("--backend", help="numpy/cpu, cupy/gpu, array_api_strict or a plugin's backend; `xpgrad info` lists "
                          "them (default: $XPGRAD_BACKEND or numpy)")
    add("--dataset", help=f"{', '.join(DATASETS)} (default {d['dataset']}; mnist and cifar10 read --data-dir, "
                          "digits is scikit-learn's 8x8 digits)")
    add("--data-dir", dest="data_dir", help=f"folder with the MNIST/CIFAR-10 files (default {d['data_dir']})")
    add("--download", action="store_true", help="fetch MNIST/CIFAR-10 into --data-dir when missing (needs a network)")
    add("--model", choices=MODELS, help="mlp: fully connected layers; cnn: 3x3 conv + activation + 2x2 max-pool "
                                        "blocks (--channels), then the fully connected layers (default mlp)")
    add("--channels", help=f"with --model cnn: output channels of each conv block, comma-separated "
                           f"(default {d['channels']})")
    add("--hidden", help=f"hidden layer sizes, comma-separated; 0 = linear classifier (default {d['hidden']})")
    add("--activation", help=f"activation between layers (default {d['activation']})")
    add("--loss", help=f"loss (default {d['loss']})")
    add("--optimizer", help=f"optimizer (default {d['optimizer']})")
    add("--lr", type=float, help=f"initial learning rate (default {d['lr']}; {IMAGE_DEFAULTS['lr']} for images)")
    add("--schedule", help=f"learning-rate schedule, stepped once per optimizer step (default {d['schedule']})")
    add("--warmup", type=int, help="linear warmup length in optimizer steps (default 0)")
    add("--regularizer", help=f"regularizer (default {d['regularizer']})")
    add("--reg", type=float, help=f"regularization strength; 0 turns it off (default {d['reg']})")
    for kind in COMPONENT_KINDS:
        add(f"--{kind}-args", dest=f"{kind}_args", nargs="+", action="extend", metavar="KEY=VALUE",
            help=f"parameters of the {kind}, e.g. {_ARGS_EXAMPLES[kind]}")
    add("--epochs", type=int, help=f"total epochs (default {d['epochs']}; {IMAGE_DEFAULTS['epochs']} for images)")
    add("--batch-size", dest="batch_size", type=int,
        help=f"minibatch size; 0 = full batch (default {d['batch_size']}; {IMAGE_DEFAULTS['batch_size']} for images)")
    add("--seed", type=int, help="seed of the data, the initialization and the shuffling (default 0)")
    add("--checkpoint", metavar="PATH", help="save a checkpoint here during and after training")
    add("--resume", metavar="PATH", help="continue from a checkpoint (its options are the defaults; "
                                         "--epochs is the total to reach)")
    add("--plots", metavar="DIR", help="write loss.png, lr.png and regions.png (or weights.png) into DIR "
                                       "(needs matplotlib: pip install 'xpgrad[plot]')")
    add("--compile", action="store_true",
        help="train with the step compiled by xpgrad.compile (recorded once per batch shape, then replayed): "
             "the same numbers as without it, with less Python per step")
    add("--dtype", choices=B.FLOAT_DTYPES, help=f"float dtype of the model and the data (default {d['dtype']})")
    add("--distributed", action="store_true",
        help="data-parallel training over the ranks of `mpiexec -n N xpgrad train --distributed` (needs the mpi "
             "extra: pip install 'xpgrad[mpi]'); --batch-size is the global batch, split among the ranks")
    add("--comm", choices=("auto", "mpi", "nccl"),
        help="with --distributed on a GPU: reduce gradients with NCCL, through host MPI, or NCCL when it works "
             "(default auto)")
    add("--quiet", action="store_true", help="no progress bar or epoch lines; only the final line")
    add("--debug", action="store_true", default=argparse.SUPPRESS,
        help="show the traceback of an unexpected error instead of one line")
    p.set_defaults(run=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xpgrad", description="Neural networks on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"xpgrad {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("info", help="version, backends available here, whether a GPU is usable").set_defaults(
        run=commands.info)
    _add_train(sub)
    from ..registry import KINDS  # light: the plugins themselves load on first use

    lst = sub.add_parser("list", help="every registered component by kind, with the plugin that provides it")
    lst.add_argument("--kind", choices=KINDS)
    lst.set_defaults(run=commands.list_components)
    plugin = sub.add_parser("plugin", help="plugin tools")
    psub = plugin.add_subparsers(dest="plugin_command", metavar="{new}", parser_class=_Parser, required=True)
    new = psub.add_parser("new", help="create a plugin package skeleton xpgrad-NAME")
    new.add_argument("name")
    new.add_argument("--dir", default=".", help="where to create it (default: the current folder)")
    new.set_defaults(run=commands.plugin_new)
    return parser


def _rank() -> int:
    from .. import distributed as dist

    return dist.rank()


def _world_size() -> int:
    from .. import distributed as dist

    return dist.world_size()


def main(argv=None) -> int:
    """Run the ``xpgrad`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0: success. 2: a bad option or input (one line on stderr, found before
    training). 1: a NaN loss or any other error (one line; ``--debug`` raises
    it with its traceback). 130: interrupted.

    >>> main(["info"])
    xpgrad ...
    GPU usable: ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed the message (or the help); return its status
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "run", None) is None:
        return commands.info(args)
    prog = "xpgrad " + args.command if args.command else "xpgrad"
    try:
        return args.run(args)
    except (UsageError, B.BackendError, CheckpointError, FileNotFoundError, FileExistsError) as e:
        if _rank() == 0:  # in a data-parallel job these are found alike on every rank: say it once
            print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `xpgrad list | head`: the reader left; stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as e:
        if getattr(args, "debug", False) or _world_size() > 1:
            # On one rank of a data-parallel job the others would wait for it forever: the exception hook of
            # xpgrad.distributed.init prints the traceback with the rank and aborts the whole job.
            raise
        print(f"{prog}: error: {type(e).__name__}: {_one_line(e)} (this is a bug or an unusual setup; "
              "--debug shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
