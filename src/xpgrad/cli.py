"""The ``xpgrad`` command: ``train``, ``list``, ``info`` and ``plugin new``.

``xpgrad train`` with no options trains a two-layer ReLU network (100 hidden
units) on the generated spiral dataset with softmax cross-entropy, L2
regularization, Adam and a cosine learning-rate schedule: no download, a
second or two on a laptop, and about 99 % training accuracy. ``--hidden 0``
trains a linear classifier instead, which cannot separate the spiral's arms.

Mistakes in the options (an unknown component, a negative learning rate,
missing data files, a checkpoint that does not fit) end with exit status 2
and a one-line message on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys

from . import __version__
from . import backend as B
from .checkpoint import CheckpointError

TOY_DATASETS = ("spiral", "blobs")
DATASETS = (*TOY_DATASETS, "mnist", "cifar10")

# Defaults of ``xpgrad train``; per-dataset values where the image datasets need other ones.
DEFAULTS = {
    "backend": None, "dataset": "spiral", "data_dir": "data", "hidden": "100", "activation": "relu",
    "loss": "cross_entropy", "optimizer": "adam", "lr": 1e-2, "schedule": "cosine", "warmup": 0,
    "regularizer": "l2", "reg": 1e-4, "epochs": 300, "batch_size": 32, "seed": 0,
}
IMAGE_DEFAULTS = {"epochs": 5, "batch_size": 128, "lr": 1e-3}
# Options that define the network, the data and the training run: kept in checkpoints and used by --resume.
CONFIG_KEYS = tuple(k for k in DEFAULTS if k != "backend")


class UsageError(Exception):
    """A bad option or input: reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (no usage dump) with exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _one_line(message) -> str:
    return " ".join(str(message).split())


# -- info, list, plugin ---------------------------------------------------------------------------


def _info(args) -> int:
    print(f"xpgrad {__version__}")
    print(f"current backend: {B.get_backend()}")
    _load_plugins()
    for name, info in B.registered_backends().items():  # built-ins and plugins' backends alike
        try:
            B.resolve(name)
            state = "available"
        except B.BackendError as e:
            state = f"unavailable ({e})"
        source = info.plugin or "registered in-process"
        if info.distribution not in (None, "xpgrad"):
            source += f" [{info.distribution}]"
        aliases = f", aliases {', '.join(info.aliases)}" if info.aliases else ""
        print(f"  {name}: {state}  (plugin {source}{aliases})")
    print(f"GPU usable: {'yes' if B.gpu_available() else 'no'}")
    return 0


def _load_plugins() -> None:
    """Load every plugin now (idempotent), so the backend table includes the plugins' backends."""
    from . import registry

    registry.ensure_loaded()


def _backend_option(name: str) -> str:
    """The canonical name of ``--backend name``, checked against the backend table once plugins are loaded."""
    _load_plugins()
    table = B.registered_backends()
    try:
        canonical = B.canonical_name(name)
    except B.BackendError:
        aliases = sorted(a for info in table.values() for a in info.aliases)
        raise UsageError(f"--backend: unknown backend {name!r}; choose one of {', '.join(table)} "
                         f"(or an alias: {', '.join(aliases)}); `xpgrad info` lists them") from None
    try:
        B.resolve(canonical)
    except B.BackendError as e:
        raise UsageError(f"--backend {name}: {e}") from None
    return canonical


def _list(args) -> int:
    from . import registry

    kinds = registry.KINDS if args.kind is None else (args.kind,)
    for kind in kinds:
        entries = registry.describe(kind)
        print(f"{registry.kind(kind).plural}:")
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            aliases = f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""
            source = e.plugin if e.distribution in (None, "xpgrad") else f"{e.plugin} [{e.distribution}]"
            summary = f"  {e.summary}" if e.summary else ""
            print(f"  {e.name:<{width}}  plugin: {source}{aliases}{summary}")
    return 0


def _plugin_new(args) -> int:
    from .scaffold import new_plugin

    try:
        root = new_plugin(args.name, args.dir)
    except ValueError as e:  # a name that gives no Python identifier
        raise UsageError(e) from None
    print(f"created {root}")
    print(f"next: pip install -e {root} && pytest {root}")
    return 0


# -- train --------------------------------------------------------------------------------------------


def _config(args) -> dict:
    """Options given on the command line, over the resumed checkpoint's, over the defaults."""
    given = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    saved = {}
    if args.resume:
        from .checkpoint import read_metadata

        saved = {k: v for k, v in (read_metadata(args.resume).get("config") or {}).items() if k in CONFIG_KEYS}
    dataset = given.get("dataset", saved.get("dataset", DEFAULTS["dataset"]))
    defaults = {**DEFAULTS, **(IMAGE_DEFAULTS if dataset not in TOY_DATASETS else {})}
    cfg = {**defaults, **saved, **given}
    _validate(cfg)
    return cfg


def _validate(cfg):
    from . import registry

    if cfg["dataset"] not in DATASETS:
        raise UsageError(f"unknown dataset {cfg['dataset']!r}; choose one of {', '.join(DATASETS)}")
    for kind in ("activation", "loss", "optimizer", "schedule", "regularizer"):  # the options named after kinds
        try:
            registry.table(kind)[cfg[kind]]
        except KeyError as e:
            raise UsageError(f"--{kind}: {e}") from None
    if not cfg["lr"] > 0:
        raise UsageError(f"--lr must be a positive number, got {cfg['lr']!r}")
    if not cfg["reg"] >= 0:
        raise UsageError(f"--reg must be >= 0, got {cfg['reg']!r}")
    for key, low in (("epochs", 1), ("batch_size", 0), ("warmup", 0), ("seed", 0)):
        if cfg[key] < low:
            raise UsageError(f"--{key.replace('_', '-')} must be >= {low}, got {cfg[key]}")
    cfg["hidden_sizes"] = _hidden_sizes(cfg["hidden"])


def _hidden_sizes(text) -> list:
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise UsageError(f"--hidden must be a comma-separated list of layer sizes like 100 or 64,32, "
                         f"got {text!r}") from None
    if any(s < 0 for s in sizes):
        raise UsageError(f"--hidden sizes must be >= 0, got {text!r}")
    return [] if sizes in ([], [0]) else sizes


def _load_data(cfg, download=False):
    """(X, y, Xval, yval, image_shape) as NumPy arrays; image_shape is None for 2-D toy data."""
    import numpy as np

    from . import data

    seed = cfg["seed"]
    if cfg["dataset"] == "spiral":
        return (*data.spiral(100, 3, seed=seed), *data.spiral(100, 3, seed=seed + 1), None)
    if cfg["dataset"] == "blobs":
        return (*data.blobs(100, 3, seed=seed), *data.blobs(100, 3, seed=seed + 1), None)
    loader = data.load_mnist if cfg["dataset"] == "mnist" else data.load_cifar10
    shape = (28, 28) if cfg["dataset"] == "mnist" else (3, 32, 32)
    try:
        X, y = loader(cfg["data_dir"], train=True, download=download)
    except FileNotFoundError as e:
        hint = "" if download else " or add --download"
        raise UsageError(f"{e} (set the folder with --data-dir{hint})") from None
    except OSError as e:  # the download itself failed
        raise UsageError(f"could not download {cfg['dataset']} into {cfg['data_dir']}: {e}") from None
    order = np.random.default_rng(seed).permutation(X.shape[0])  # hold out 10 % for validation
    n_val = max(1, X.shape[0] // 10)
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val], shape


def _build_model(cfg, in_features, classes):
    from . import nn

    sizes = [in_features, *cfg["hidden_sizes"], classes]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Activation(cfg["activation"]))
    return nn.Sequential(*layers)


def _schedule_kwargs(name, total_steps, warmup):
    """Pass ``total_steps``/``warmup_steps`` to schedules whose signature takes them (plugins' included)."""
    from . import registry

    kw = {}
    try:
        params = inspect.signature(registry.schedules[name].obj).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if "total_steps" in params or takes_any:
        kw["total_steps"] = total_steps
    if warmup:
        if "warmup_steps" not in params and not takes_any:
            raise UsageError(f"--warmup: schedule {name!r} takes no warmup_steps")
        kw["warmup_steps"] = warmup
    return kw


def _train(args) -> int:
    import xpgrad

    from .checkpoint import CheckpointError, load
    from .train import History, ModelCheckpoint, NonFiniteLossError, evaluate, fit

    cfg = _config(args)
    backend = _backend_option(args.backend) if args.backend else B.get_backend()
    with B.use_backend(backend):
        xpgrad.manual_seed(cfg["seed"])
        X, y, Xv, yv, image_shape = _load_data(cfg, download=args.download)
        classes = int(max(y.max(), yv.max())) + 1
        model = _build_model(cfg, X.shape[1], classes)
        try:
            loss = xpgrad.loss(cfg["loss"])
            reg = xpgrad.regularizer(cfg["regularizer"], cfg["reg"]) if cfg["reg"] > 0 else None
            optimizer = xpgrad.optimizer(cfg["optimizer"], model.parameters(), lr=cfg["lr"])
        except (TypeError, ValueError) as e:
            raise UsageError(e) from None
        batch = cfg["batch_size"] or X.shape[0]
        steps_per_epoch = -(-X.shape[0] // batch)
        total_steps = cfg["epochs"] * steps_per_epoch
        if cfg["warmup"] >= total_steps:
            raise UsageError(f"--warmup ({cfg['warmup']} steps) must be shorter than the run ({total_steps} steps)")
        sched_kw = _schedule_kwargs(cfg["schedule"], total_steps, cfg["warmup"])
        try:
            schedule = xpgrad.schedule(cfg["schedule"], optimizer, **sched_kw)
        except (TypeError, ValueError) as e:
            raise UsageError(f"--schedule {cfg['schedule']}: {e}") from None
        start, history = 0, History()
        if args.resume:
            try:
                meta = load(args.resume, model=model, optimizer=optimizer, schedule=schedule)
            except CheckpointError as e:
                raise UsageError(f"--resume: {e}") from None
            start, history = int(meta.get("epoch", 0)), History.from_dict(meta.get("history") or {})
        saved = {k: cfg[k] for k in CONFIG_KEYS}
        callbacks = []
        if args.checkpoint:
            every = max(1, cfg["epochs"] // 10)
            callbacks.append(ModelCheckpoint(args.checkpoint, every=every, config=saved))
        remaining = max(0, cfg["epochs"] - start)
        try:
            history = fit(model, loss, optimizer, (X, y), remaining, batch_size=cfg["batch_size"] or None,
                          schedule=schedule, regularizer=reg, val_data=(Xv, yv), callbacks=callbacks,
                          progress=not args.quiet, start_epoch=start, history=history)
        except NonFiniteLossError as e:
            print(f"xpgrad train: error: {_one_line(e)}", file=sys.stderr)
            return 1
        train_acc = evaluate(model, loss, (X, y))["accuracy"]
        val_acc = evaluate(model, loss, (Xv, yv))["accuracy"]
        if args.plots:
            _plots(args.plots, cfg, history, sched_kw, model, X, y, image_shape, quiet=args.quiet)
        if args.checkpoint and not args.quiet:
            print(f"checkpoint: {args.checkpoint}")
    print(f"final train accuracy: {train_acc:.4f}  val accuracy: {val_acc:.4f}")
    return 0


def _plots(directory, cfg, history, sched_kw, model, X, y, image_shape, quiet):
    from . import plot

    os.makedirs(directory, exist_ok=True)
    written = []
    if len(history):
        written.append(plot.plot_history(history, os.path.join(directory, "loss.png"),
                                         title=f"{cfg['dataset']}: hidden {cfg['hidden']}"))
    steps = sched_kw.get("total_steps") or cfg["epochs"] * -(-X.shape[0] // (cfg["batch_size"] or X.shape[0]))
    written.append(plot.plot_schedule(cfg["schedule"], steps, os.path.join(directory, "lr.png"), lr=cfg["lr"],
                                      **sched_kw))
    if X.shape[1] == 2:
        written.append(plot.plot_decision_regions(model, X, y, os.path.join(directory, "regions.png")))
    elif image_shape is not None and not cfg["hidden_sizes"]:
        weight = model.state_dict()["0.weight"]
        names = None
        if cfg["dataset"] == "cifar10":
            from .data import CIFAR10_CLASSES as names
        written.append(plot.plot_linear_weights(weight, image_shape, os.path.join(directory, "weights.png"),
                                                class_names=names))
    if not quiet:
        print("plots: " + ", ".join(written))


# -- parser -------------------------------------------------------------------------------------------------


def _add_train(sub):
    p = sub.add_parser("train", help="train a classifier (default: 2-layer ReLU net on the spiral)",
                       description="Train a fully connected classifier. Every name option accepts any "
                                   "registered component, including those of installed plugins (see `xpgrad list`).")
    d = DEFAULTS
    add = p.add_argument
    add("--backend", help="numpy/cpu, cupy/gpu, array_api_strict or a plugin's backend; `xpgrad info` lists "
                          "them (default: $XPGRAD_BACKEND or numpy)")
    add("--dataset", help=f"{', '.join(DATASETS)} (default {d['dataset']}; mnist and cifar10 read --data-dir)")
    add("--data-dir", dest="data_dir", help=f"folder with the MNIST/CIFAR-10 files (default {d['data_dir']})")
    add("--download", action="store_true", help="fetch MNIST/CIFAR-10 into --data-dir when missing (needs a network)")
    add("--hidden", help=f"hidden layer sizes, comma-separated; 0 = linear classifier (default {d['hidden']})")
    add("--activation", help=f"activation between layers (default {d['activation']})")
    add("--loss", help=f"loss (default {d['loss']})")
    add("--optimizer", help=f"optimizer (default {d['optimizer']})")
    add("--lr", type=float, help=f"initial learning rate (default {d['lr']}; {IMAGE_DEFAULTS['lr']} for images)")
    add("--schedule", help=f"learning-rate schedule, stepped once per optimizer step (default {d['schedule']})")
    add("--warmup", type=int, help="linear warmup length in optimizer steps (default 0)")
    add("--regularizer", help=f"regularizer (default {d['regularizer']})")
    add("--reg", type=float, help=f"regularization strength; 0 turns it off (default {d['reg']})")
    add("--epochs", type=int, help=f"total epochs (default {d['epochs']}; {IMAGE_DEFAULTS['epochs']} for images)")
    add("--batch-size", dest="batch_size", type=int,
        help=f"minibatch size; 0 = full batch (default {d['batch_size']}; {IMAGE_DEFAULTS['batch_size']} for images)")
    add("--seed", type=int, help="seed of the data, the initialization and the shuffling (default 0)")
    add("--checkpoint", metavar="PATH", help="save a checkpoint here during and after training")
    add("--resume", metavar="PATH", help="continue from a checkpoint (its options are the defaults; "
                                         "--epochs is the total to reach)")
    add("--plots", metavar="DIR", help="write loss.png, lr.png and regions.png (or weights.png) into DIR")
    add("--quiet", action="store_true", help="no progress bar or epoch lines; only the final line")
    p.set_defaults(run=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xpgrad", description="Neural networks on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"xpgrad {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("info", help="version, backends available here, whether a GPU is usable").set_defaults(run=_info)
    _add_train(sub)
    from .registry import KINDS  # light: the plugins themselves load on first use

    lst = sub.add_parser("list", help="every registered component by kind, with the plugin that provides it")
    lst.add_argument("--kind", choices=KINDS)
    lst.set_defaults(run=_list)
    plugin = sub.add_parser("plugin", help="plugin tools")
    psub = plugin.add_subparsers(dest="plugin_command", metavar="{new}", parser_class=_Parser, required=True)
    new = psub.add_parser("new", help="create a plugin package skeleton xpgrad-NAME")
    new.add_argument("name")
    new.add_argument("--dir", default=".", help="where to create it (default: the current folder)")
    new.set_defaults(run=_plugin_new)
    return parser


def main(argv=None) -> int:
    """Run the ``xpgrad`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

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
        return _info(args)
    try:
        return args.run(args)
    except (UsageError, B.BackendError, CheckpointError, FileNotFoundError, FileExistsError) as e:
        prog = "xpgrad " + args.command if args.command else "xpgrad"
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
