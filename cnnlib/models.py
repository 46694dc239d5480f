"""The case-study architectures of the course, as plain ``torch.nn.Module`` classes.

Every model maps ``x: (N, C, H, W)`` float32 to logits ``(N, num_classes)``.

- :class:`LeNet5`        LeCun et al. 1998 (ReLU and max pooling instead of tanh/subsampling)
- :class:`SmallConvNet`  a LeNet-style net for 8x8 digits and other small images
- :class:`AlexNet`       the simplified single-tower AlexNet of the lectures (227x227 input)
- :class:`VGG`           VGG-11/13/16/19 or any config list; torchvision-compatible layout
- :class:`InceptionModule`, :class:`GoogLeNet` (the paper's 22-layer net), :class:`SmallGoogLeNet`
- :class:`BasicBlock`, :class:`Bottleneck`, :class:`ResNet` (``resnet18/34/50``) and the
  6n+2 CIFAR ResNets (:func:`cifar_resnet`) with :class:`PlainNet` twins without shortcuts
- :class:`ConvNetJSNet`  the small CIFAR-10 net of the ConvNetJS browser demo

Parameter counts match the published reference definitions exactly (VGG16 138,357,544;
ResNet-18 11,689,512; ResNet-50 25,557,032 at 1000 classes). Convolutions followed by batch
norm have no bias (the norm's shift makes it redundant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from cnnlib._validate import check_int, check_positive_ints

__all__ = [
    "LeNet5",
    "SmallConvNet",
    "AlexNet",
    "VGG",
    "VGG_CFGS",
    "InceptionModule",
    "SmallGoogLeNet",
    "GoogLeNet",
    "GOOGLENET_CFG",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "CifarResNet",
    "cifar_resnet",
    "PlainNet",
    "ConvNetJSNet",
    "he_init",
    "count_params",
]


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def he_init(module: nn.Module) -> None:
    """He (Kaiming) initialisation in its fan-in form: ``std = sqrt(2 / fan_in)``.

    Conv and linear weights get ``N(0, 2 / fan_in)`` with ``fan_in = C_in * F * F``, biases 0;
    batch-norm scales 1 and shifts 0. Apply with ``model.apply(he_init)``.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# ------------------------------------------------------------------------------------------
# LeNet-5
# ------------------------------------------------------------------------------------------


class LeNet5(nn.Module):
    """LeNet-5: CONV6@5 - POOL - CONV16@5 - POOL - FC120 - FC84 - FC(num_classes).

    Input ``(N, in_channels, input_size, input_size)``; 32x32 is the original (no padding:
    32 -> 28 -> 14 -> 10 -> 5, so FC120 sees 16*5*5 = 400 values; 61,706 parameters at 10
    classes). For smaller images (28x28 MNIST, 8x8 digits) the convolutions use ``padding=2``
    ("same"), so 8 -> 8 -> 4 -> 4 -> 2. Output: logits ``(N, num_classes)``.
    ReLU and max pooling replace the original tanh and trainable subsampling.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
                 padding: int | None = None) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        pad = (0 if input_size >= 32 else 2) if padding is None else padding
        s = input_size
        s = (s - 5 + 2 * pad) + 1
        s //= 2
        s = (s - 5 + 2 * pad) + 1
        s //= 2
        if s < 1:
            raise ValueError(f"input_size={input_size} is too small for LeNet5 with padding={pad}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=pad), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * s * s, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SmallConvNet(nn.Module):
    """A LeNet-style net for small images (8x8 digits, 25x25 faces, 32x32 CIFAR).

    ``(N, in_channels, S, S)`` -> CONV ``width``@3x3 pad 1 - BN - ReLU - CONV ``width``@3x3 -
    BN - ReLU - POOL 2x2/2 - CONV ``2*width``@3x3 - BN - ReLU - POOL 2x2/2 - dropout -
    FC 128 - ReLU - dropout - FC ``num_classes`` -> logits ``(N, num_classes)``.
    The pools round odd sizes up (``ceil_mode``), so no image row or column is dropped
    (25 -> 13 -> 7); the FC input is ``2*width * ceil(S/4)**2``, so ``input_size`` must be
    given (>= 4).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 8,
                 width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                        width=width)
        if input_size < 4:
            raise ValueError(f"input_size must be >= 4 (two 2x2 pools), got {input_size}")
        w2, s = 2 * width, math.ceil(math.ceil(input_size / 2) / 2)
        # ceil_mode: with floor, 2x2/2 pools would silently drop the last row and column of a
        # 25x25 face ((25 - 2)/2 + 1 = 12.5), real pixels; a window may overhang the edge instead
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, w2, 3, padding=1, bias=False), nn.BatchNorm2d(w2),
            nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(w2 * s * s, 128), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(128, num_classes),
        )
        self.apply(he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# ------------------------------------------------------------------------------------------
# AlexNet
# ------------------------------------------------------------------------------------------


class AlexNet(nn.Module):
    """Simplified (single-tower) AlexNet of Krizhevsky et al. 2012, as in the lectures.

    Input ``(N, 3, 227, 227)`` -> logits ``(N, num_classes)``::

        CONV1 96@11x11/4 pad 0  -> 96x55x55   (34,944 params)
        POOL1 3x3/2             -> 96x27x27
        NORM1 (LRN)
        CONV2 256@5x5/1 pad 2   -> 256x27x27
        POOL2 3x3/2             -> 256x13x13
        NORM2 (LRN)
        CONV3 384@3x3 pad 1     -> 384x13x13
        CONV4 384@3x3 pad 1     -> 384x13x13
        CONV5 256@3x3 pad 1     -> 256x13x13
        POOL3 3x3/2             -> 256x6x6
        FC6 4096, FC7 4096 (dropout 0.5 before each), FC8 num_classes

    ReLU after every CONV/FC except FC8. The original split CONV2/4/5 over two GPUs
    (groups=2); this single-tower version has the full connectivity (62,378,344 params).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, lrn: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, in_channels=in_channels)

        def norm() -> nn.Module:
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2), norm(),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2), norm(),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# ------------------------------------------------------------------------------------------
# VGG
# ------------------------------------------------------------------------------------------

#: Conv widths per layer, "M" = 2x2/2 max pool (Simonyan and Zisserman 2014, configs A, B, D, E).
VGG_CFGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG: only 3x3 convs (stride 1, pad 1) and 2x2/2 max pools, then three FC layers.

    ``depth``: 11, 13, 16 or 19, or a config list like ``[64, "M", 128, "M"]``.
    Input ``(N, in_channels, H, W)`` (224x224 in the paper) -> logits ``(N, num_classes)``.
    The last feature map is average-pooled to ``pool_size x pool_size`` (a no-op at 224 input,
    where it already is 7x7), so the FC6 input is ``C_last * pool_size**2``. VGG16 at
    1000 classes has 138,357,544 parameters, ~90% of them in FC6/FC7.
    """

    def __init__(self, depth: int | Sequence[int | str] = 16, num_classes: int = 1000,
                 batch_norm: bool = False, in_channels: int = 3, fc_width: int = 4096,
                 pool_size: int = 7, dropout: float = 0.5) -> None:
        super().__init__()
        if isinstance(depth, int) and not isinstance(depth, bool):
            if depth not in VGG_CFGS:
                raise ValueError(f"VGG depth must be one of {sorted(VGG_CFGS)}, got {depth}")
            cfg = VGG_CFGS[depth]
        elif isinstance(depth, Sequence) and not isinstance(depth, str) and depth:
            cfg = list(depth)
        else:
            raise TypeError(f"depth must be 11/13/16/19 or a non-empty config list, got {depth!r}")
        check_positive_ints(num_classes=num_classes, in_channels=in_channels, fc_width=fc_width,
                        pool_size=pool_size)
        layers: list[nn.Module] = []
        c = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            elif isinstance(v, int) and v > 0:
                # conv bias kept with BN too, as in the reference vgg*_bn definitions
                layers.append(nn.Conv2d(c, v, 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU(inplace=True))
                c = v
            else:
                raise ValueError(f"VGG config entries must be positive ints or 'M', got {v!r}")
        self.cfg = cfg
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * pool_size * pool_size, fc_width), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_width, fc_width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_width, num_classes),
        )
        self.apply(he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


# ------------------------------------------------------------------------------------------
# GoogLeNet
# ------------------------------------------------------------------------------------------


def _conv_relu(cin: int, cout: int, k: int, batch_norm: bool, stride: int = 1) -> nn.Sequential:
    if batch_norm:
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2),
                         nn.ReLU(inplace=True))


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module with 1x1 bottlenecks (Szegedy et al. 2014).

    Four parallel branches on ``x: (N, in_ch, H, W)``, concatenated along channels in this
    order:

    1. 1x1 conv -> ``ch1x1``
    2. 1x1 conv -> ``ch3x3red`` (bottleneck), 3x3 conv pad 1 -> ``ch3x3``
    3. 1x1 conv -> ``ch5x5red`` (bottleneck), 5x5 conv pad 2 -> ``ch5x5``
    4. 3x3 max pool stride 1 pad 1, 1x1 conv -> ``pool_proj``

    each conv followed by ReLU (and batch norm before it when ``batch_norm``).
    Output: ``(N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)``; the spatial size is kept.
    """

    def __init__(self, in_ch: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, batch_norm: bool = False) -> None:
        super().__init__()
        check_positive_ints(in_ch=in_ch, ch1x1=ch1x1, ch3x3red=ch3x3red, ch3x3=ch3x3,
                        ch5x5red=ch5x5red, ch5x5=ch5x5, pool_proj=pool_proj)
        self.branch1 = _conv_relu(in_ch, ch1x1, 1, batch_norm)
        self.branch2 = nn.Sequential(_conv_relu(in_ch, ch3x3red, 1, batch_norm),
                                     _conv_relu(ch3x3red, ch3x3, 3, batch_norm))
        self.branch3 = nn.Sequential(_conv_relu(in_ch, ch5x5red, 1, batch_norm),
                                     _conv_relu(ch5x5red, ch5x5, 5, batch_norm))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     _conv_relu(in_ch, pool_proj, 1, batch_norm))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class _AuxHead(nn.Module):
    """Auxiliary classifier: average pool to 2x2, 1x1 conv 64, FC, logits."""

    def __init__(self, in_ch: int, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(2), _conv_relu(in_ch, 64, 1, True), nn.Flatten(),
            nn.Dropout(0.3), nn.Linear(64 * 4, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallGoogLeNet(nn.Module):
    """A GoogLeNet in miniature for 32x32 (or smaller) images.

    Stem (3x3 conv 64, BN, ReLU, 2x2 max pool) -> two Inception modules -> 2x2 max pool ->
    two Inception modules -> global average pooling -> dropout -> one FC layer (no big FC
    stack, as in GoogLeNet). Input ``(N, in_channels, H, W)``, H = W >= 4; output logits
    ``(N, num_classes)``. With ``aux=True`` an auxiliary classifier after the third module
    makes the model return ``(logits, aux_logits)`` in training mode (``fit`` adds 0.3 times its
    loss) and only ``logits`` in eval mode.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, aux: bool = False) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, in_channels=in_channels)
        self.stem = nn.Sequential(_conv_relu(in_channels, 64, 3, True), nn.MaxPool2d(2))
        self.inc1 = InceptionModule(64, 16, 24, 32, 4, 8, 8, batch_norm=True)        # -> 64
        self.inc2 = InceptionModule(64, 32, 32, 48, 8, 24, 16, batch_norm=True)      # -> 120
        self.pool = nn.MaxPool2d(2)
        self.inc3 = InceptionModule(120, 48, 24, 52, 4, 12, 16, batch_norm=True)     # -> 128
        self.inc4 = InceptionModule(128, 40, 28, 56, 6, 16, 16, batch_norm=True)     # -> 128
        self.aux = _AuxHead(128, num_classes) if aux else None
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(128, num_classes))
        self.apply(he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.inc3(self.pool(self.inc2(self.inc1(self.stem(x)))))
        aux = self.aux(x) if self.aux is not None and self.training else None
        out = self.head(self.inc4(x))
        return (out, aux) if aux is not None else out


#: Inception modules of GoogLeNet (Szegedy et al. 2014, Table 1): name -> (in_ch, ch1x1,
#: ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj); "pool" marks the 3x3/2 max pools between them.
GOOGLENET_CFG: list[tuple[str, tuple[int, ...]] | str] = [
    ("3a", (192, 64, 96, 128, 16, 32, 32)), ("3b", (256, 128, 128, 192, 32, 96, 64)), "pool",
    ("4a", (480, 192, 96, 208, 16, 48, 64)), ("4b", (512, 160, 112, 224, 24, 64, 64)),
    ("4c", (512, 128, 128, 256, 24, 64, 64)), ("4d", (512, 112, 144, 288, 32, 64, 64)),
    ("4e", (528, 256, 160, 320, 32, 128, 128)), "pool",
    ("5a", (832, 256, 160, 320, 32, 128, 128)), ("5b", (832, 384, 192, 384, 48, 128, 128)),
]


class _PaperAuxHead(nn.Module):
    """GoogLeNet's auxiliary classifier: 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout
    0.7, FC to the classes (on a 14x14 map the pool gives 4x4)."""

    def __init__(self, in_ch: int, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool2d(5, stride=3), nn.Conv2d(in_ch, 128, 1), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(128 * 4 * 4, 1024), nn.ReLU(inplace=True), nn.Dropout(0.7),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GoogLeNet(nn.Module):
    """GoogLeNet (Szegedy et al. 2014) as in the paper's Table 1: 22 layers with parameters.

    Stem: 7x7/2 conv 64 - 3x3/2 max pool - LRN - 1x1 conv 64 - 3x3 conv 192 - LRN - 3x3/2 max
    pool; Inception modules 3a-3b, pool, 4a-4e, pool, 5a-5b (:data:`GOOGLENET_CFG`); global
    average pooling, dropout 0.4, one FC layer. Every conv has a bias and a ReLU (no batch norm,
    as in the paper). The max pools use pad 1, so their sizes floor harmlessly (only padding is
    left over): ``(N, 3, 224, 224)`` -> 112 -> 56 -> 28 -> 14 -> 7 -> logits ``(N, num_classes)``.

    aux: add the two auxiliary classifiers (after 4a and 4d); in training mode the model then
    returns ``(logits, aux1, aux2)`` (``cnnlib.train.fit`` adds 0.3 times their losses), in
    eval mode only the logits. Without them it has 6,998,552 parameters at 1000 classes.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux: bool = False) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, in_channels=in_channels)
        lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, stride=2, padding=3), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1), lrn,
            nn.Conv2d(64, 64, 1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(inplace=True), lrn,
            nn.MaxPool2d(3, 2, padding=1),
        )
        self.inception = nn.ModuleDict()
        for item in GOOGLENET_CFG:
            if item != "pool":
                name, cfg = item
                self.inception[name] = InceptionModule(*cfg)
        self.aux1 = _PaperAuxHead(512, num_classes) if aux else None
        self.aux2 = _PaperAuxHead(528, num_classes) if aux else None
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.4),
                                  nn.Linear(1024, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.stem(x)
        aux = []
        for item in GOOGLENET_CFG:
            if item == "pool":
                x = self.pool(x)
                continue
            x = self.inception[item[0]](x)
            head = {"4a": self.aux1, "4d": self.aux2}.get(item[0])
            if head is not None and self.training:
                aux.append(head(x))
        out = self.head(x)
        return (out, *aux) if aux else out


# ------------------------------------------------------------------------------------------
# ResNet
# ------------------------------------------------------------------------------------------


def _projection(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Residual block of ResNet-18/34: ``out = ReLU(F(x) + shortcut(x))``.

    ``F`` = 3x3 conv (stride ``stride``) - BN - ReLU - 3x3 conv - BN. The shortcut is the
    identity when the shape is kept, else a 1x1 conv with stride + BN (projection, option B).
    ``x: (N, in_channels, H, W)`` -> ``(N, out_channels, ceil(H/stride), ceil(W/stride))``.
    ``shortcut=False`` drops the addition (the block of a plain net).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 shortcut: bool = True) -> None:
        super().__init__()
        check_positive_ints(in_channels=in_channels, out_channels=out_channels, stride=stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.use_shortcut = shortcut
        needs_proj = stride != 1 or in_channels != out_channels
        self.downsample = _projection(in_channels, out_channels, stride) \
            if shortcut and needs_proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """Bottleneck block of ResNet-50/101/152: 1x1 (reduce) - 3x3 - 1x1 (expand x4).

    ``x: (N, in_channels, H, W)`` -> ``(N, 4 * width, ceil(H/stride), ceil(W/stride))``;
    the stride sits on the 3x3 conv; BN after each conv; projection shortcut (1x1 conv + BN)
    when the shape changes; ReLU after the addition.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1,
                 shortcut: bool = True) -> None:
        super().__init__()
        check_positive_ints(in_channels=in_channels, width=width, stride=stride)
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.use_shortcut = shortcut
        needs_proj = stride != 1 or in_channels != out_channels
        self.downsample = _projection(in_channels, out_channels, stride) \
            if shortcut and needs_proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.use_shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ResNet(nn.Module):
    """ImageNet ResNet (He et al. 2015).

    Stem: 7x7 conv 64 /2 - BN - ReLU - 3x3 max pool /2; four stages of ``layers[i]`` blocks
    with widths 64, 128, 256, 512 (the first block of stages 2-4 has stride 2: double the
    filters, halve the resolution); global average pool; one FC layer.
    Input ``(N, in_channels, 224, 224)`` -> logits ``(N, num_classes)``. He initialisation.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give the number of blocks of 4 stages, got {layers}")
        check_positive_ints(num_classes=num_classes, in_channels=in_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
        )
        stages, c = [], 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(c, width, 2 if (j == 0 and i > 0) else 1))
                c = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.apply(he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-18: BasicBlock x [2, 2, 2, 2]; 11,689,512 params at 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels)


def resnet34(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-34: BasicBlock x [3, 4, 6, 3]; 21,797,672 params at 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels)


def resnet50(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-50: Bottleneck x [3, 4, 6, 3]; 25,557,032 params at 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels)


class CifarResNet(nn.Module):
    """The 6n+2-layer CIFAR ResNet of He et al. 2015, section 4.2 (or its plain twin).

    3x3 conv ``width`` - BN - ReLU; three stages of ``n = (depth - 2) / 6`` basic blocks with
    ``width``, ``2*width``, ``4*width`` filters (stride 2 at the start of stages 2 and 3);
    global average pool; FC. Input ``(N, in_channels, H, W)`` (32x32 for CIFAR) -> logits
    ``(N, num_classes)``. ``residual=False`` removes every shortcut (a *plain* net with exactly
    the same layers, for the degradation experiment). Projection shortcuts (option B) where
    the shape changes.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 width: int = 16, residual: bool = True) -> None:
        super().__init__()
        if check_int("depth", depth, 8) % 6 != 2:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), "
                             f"got {depth!r}")
        check_positive_ints(num_classes=num_classes, in_channels=in_channels, width=width)
        n = (depth - 2) // 6
        self.depth, self.residual = depth, residual
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        blocks, c = [], width
        for i, w in enumerate((width, 2 * width, 4 * width)):
            for j in range(n):
                blocks.append(BasicBlock(c, w, 2 if (j == 0 and i > 0) else 1, shortcut=residual))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.apply(he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def cifar_resnet(depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 width: int = 16) -> CifarResNet:
    """ResNet-``depth`` for CIFAR-sized images (depth = 6n+2: 20, 32, 44, 56, 110)."""
    return CifarResNet(depth, num_classes, in_channels, width, residual=True)


class PlainNet(CifarResNet):
    """:class:`CifarResNet` without shortcuts: the same 6n+2 conv layers, stacked plainly."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3,
                 width: int = 16) -> None:
        super().__init__(depth, num_classes, in_channels, width, residual=False)


# ------------------------------------------------------------------------------------------
# ConvNetJS CIFAR-10 demo net
# ------------------------------------------------------------------------------------------


class ConvNetJSNet(nn.Module):
    """The CIFAR-10 net of the ConvNetJS browser demo.

    ``(N, 3, 32, 32)`` -> CONV16@5x5 pad 2 (16x32x32, 1,216 params) - ReLU - POOL 2x2/2
    (16x16x16) - CONV20@5x5 pad 2 (20x16x16, 8,020) - ReLU - POOL (20x8x8) - CONV20@5x5 pad 2
    (20x8x8, 10,020) - ReLU - POOL (20x4x4) - FC 10 (3,210) -> logits ``(N, num_classes)``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        check_positive_ints(num_classes=num_classes, in_channels=in_channels)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 20, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 20, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(20 * 4 * 4, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
