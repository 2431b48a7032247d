"""The networks ``xpgrad train`` builds: ``--model mlp`` (fully connected) and ``--model cnn`` (convolutional)."""

from __future__ import annotations

from .checks import UsageError, activation_pieces

MODELS = ("mlp", "cnn")


def layer_sizes(option: str, text, *, allow_empty: bool) -> list[int]:
    """``"64,32"`` -> ``[64, 32]``; ``"0"`` or ``""`` -> ``[]`` where ``allow_empty``."""
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise UsageError(f"{option} must be a comma-separated list of layer sizes like 100 or 64,32, "
                         f"got {text!r}") from None
    if any(s < 0 for s in sizes):
        raise UsageError(f"{option} sizes must be >= 0, got {text!r}")
    if sizes in ([], [0]):
        if not allow_empty:
            raise UsageError(f"{option} needs at least one size, got {text!r}")
        return []
    if 0 in sizes:
        raise UsageError(f"{option}: 0 is only allowed alone (no layers), got {text!r}")
    return sizes


def image_channels_first(image_shape) -> tuple[int, int, int]:
    """(H, W) grey images are one channel: (1, H, W); (C, H, W) stays."""
    return tuple(image_shape) if len(image_shape) == 3 else (1, *image_shape)  # type: ignore[return-value]


def build_model(cfg, in_features: int, classes: int, image_shape=None):
    """The network of ``cfg["model"]``: a fully connected one, or conv blocks followed by fully connected layers.

    ``mlp``: Linear layers of sizes ``in_features, *hidden, classes`` with the
    activation between them (p-times wider before an activation that divides
    the width by p, such as maxout). ``cnn``: the flat image rows are reshaped
    to (C, H, W); then one block per ``--channels`` entry, each a 3x3
    convolution with padding 1 (the size is kept), the activation and a 2x2
    max pooling (the size is halved, rounding down); then the ``mlp`` part on
    the flattened features.
    """
    from .. import nn

    name, kw = cfg["activation"], cfg["kw"]["activation"]
    layers: list = []
    if cfg.get("model", "mlp") == "cnn":
        if image_shape is None:
            raise UsageError(f"--model cnn needs image data (--dataset mnist, cifar10 or digits); "
                             f"--dataset {cfg['dataset']} has {in_features} features per example, not images")
        if activation_pieces(name, kw, 2) != 1:
            raise UsageError(f"--activation {name} changes the number of features; --model cnn needs an "
                             "elementwise activation (relu, tanh, gelu, ...)")
        c, h, w = image_channels_first(image_shape)
        layers.append(nn.Unflatten(1, (c, h, w)))
        for width in cfg["channel_sizes"]:
            if h < 2 or w < 2:
                raise UsageError(f"--channels {cfg['channels']}: too many conv blocks for {image_shape} images "
                                 f"(each halves the height and width; the input is {h}x{w} before block "
                                 f"{len(layers) // 4 + 1}); give fewer sizes")
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.Activation(name, **kw), nn.MaxPool2d(2)]
            c, h, w = width, h // 2, w // 2
        layers.append(nn.Flatten())
        in_features = c * h * w
    sizes = [in_features, *cfg["hidden_sizes"], classes]
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        pieces = 1 if last else activation_pieces(name, kw, sizes[i + 1])
        layers.append(nn.Linear(sizes[i], sizes[i + 1] * pieces))
        if not last:
            layers.append(nn.Activation(name, **kw))
    return nn.Sequential(*layers)
