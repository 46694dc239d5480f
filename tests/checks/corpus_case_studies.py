"""A regression corpus for 05_case_studies: the exercises written the way real students write
them, right and wrong.

Each entry is code that (re)defines one exercise on top of the reference solution. Whether it is
right is *not* written here: tests/checks/test_corpus_case_studies.py decides it with its own
float64 oracles (cnnlib's models and layer tables), and asserts that the grader gives full marks
to exactly the entries those oracles find right. ``meant`` records what the author meant to
write, so a broken oracle shows too.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    check: str      # the grade id of the exercise's test cell
    meant: bool     # written to be right?
    style: str
    code: str


CORPUS: dict[str, Entry] = {}


def _add(name: str, check: str, meant: bool, style: str, code: str) -> None:
    CORPUS[name] = Entry(f"test_{check}", meant, style, code)


# --------------------------------------------------------------------------------------------
# vgg_budget
# --------------------------------------------------------------------------------------------

_add("vgg_python2_loop", "vgg_budget", True,
     "Python-2 era: index loop, dict(), list shapes, running totals", '''
def vgg_budget(cfg, input_size=224, in_channels=3, num_classes=1000, fc_width=4096):
    layers = []
    C, S = in_channels, input_size
    layers.append(dict(layer='data', shape=[C, S, S], activations=C*S*S, params=0))
    for i in range(len(cfg)):
        v = cfg[i]
        if v == 'M':
            S = S // 2
            layers.append(dict(layer='pool%d' % i, shape=[C, S, S], activations=C*S*S, params=0))
        else:
            layers.append(dict(layer='conv%d' % i, shape=[v, S, S], activations=v*S*S,
                               params=(3*3*C + 1)*v))
            C = v
    D = C*S*S
    for j, n in enumerate([fc_width, fc_width, num_classes]):
        layers.append(dict(layer='fc%d' % (6 + j), shape=[n], activations=n, params=(D + 1)*n))
        D = n
    return layers
''')

_add("vgg_numpy", "vgg_budget", True, "numpy: np.prod of the shape, np.int64 counts", '''
import numpy as np


def vgg_budget(cfg, input_size=224, in_channels=3, num_classes=1000, fc_width=4096):
    shape = np.array([in_channels, input_size, input_size])
    rows = [{"layer": "input", "shape": tuple(shape), "activations": np.prod(shape),
             "params": 0}]
    for v in cfg:
        if v == "M":
            shape[1:] //= 2
            rows.append({"layer": "pool", "shape": tuple(shape), "activations": np.prod(shape),
                         "params": 0})
        else:
            p = np.int64(9) * shape[0] * v + v
            shape[0] = v
            rows.append({"layer": f"conv{v}", "shape": tuple(shape),
                         "activations": np.prod(shape), "params": p})
    n_in = np.prod(shape)
    for name, n in (("fc6", fc_width), ("fc7", fc_width), ("fc8", num_classes)):
        rows.append({"layer": name, "shape": (n,), "activations": n, "params": n_in * n + n})
        n_in = n
    return rows
''')

_add("vgg_fc_4096", "vgg_budget", False, "FC widths copied from VGG16 (right for VGG16 only)",
     '''
def vgg_budget(cfg, input_size=224, in_channels=3, num_classes=1000, fc_width=4096):
    c, s = in_channels, input_size
    rows = [{"layer": "input", "shape": (c, s, s), "activations": c * s * s, "params": 0}]
    for v in cfg:
        if v == "M":
            s = s // 2
            rows.append({"layer": "pool", "shape": (c, s, s), "activations": c * s * s,
                         "params": 0})
        else:
            rows.append({"layer": "conv", "shape": (v, s, s), "activations": v * s * s,
                         "params": 9 * c * v + v})
            c = v
    n = c * s * s
    for name, k in (("fc6", 4096), ("fc7", 4096), ("fc8", num_classes)):
        rows.append({"layer": name, "shape": (k,), "activations": k, "params": n * k + k})
        n = k
    return rows
''')

_add("vgg_true_division", "vgg_budget", False, "Python 3 `/` where Python 2 floored: floats",
     '''
def vgg_budget(cfg, input_size=224, in_channels=3, num_classes=1000, fc_width=4096):
    c, s = in_channels, input_size
    rows = [{"layer": "input", "shape": (c, s, s), "activations": c * s * s, "params": 0}]
    for v in cfg:
        if v == "M":
            s = s / 2
            rows.append({"layer": "pool", "shape": (c, s, s), "activations": c * s * s,
                         "params": 0})
        else:
            rows.append({"layer": "conv", "shape": (v, s, s), "activations": v * s * s,
                         "params": 9 * c * v + v})
            c = v
    n = c * s * s
    for name, k in (("fc6", fc_width), ("fc7", fc_width), ("fc8", num_classes)):
        rows.append({"layer": name, "shape": (k,), "activations": k, "params": n * k + k})
        n = k
    return rows
''')

# --------------------------------------------------------------------------------------------
# InceptionModule
# --------------------------------------------------------------------------------------------

_add("inception_functional", "inception_module", True,
     "functional style: F.relu, F.max_pool2d, a list of branches", '''
import torch.nn.functional as F


class InceptionModule(nn.Module):
    def __init__(self, in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super(InceptionModule, self).__init__()
        self.conv1x1 = nn.Conv2d(in_ch, ch1x1, kernel_size=1)
        self.reduce3x3 = nn.Conv2d(in_ch, ch3x3red, kernel_size=1)
        self.conv3x3 = nn.Conv2d(ch3x3red, ch3x3, kernel_size=3, padding=1)
        self.reduce5x5 = nn.Conv2d(in_ch, ch5x5red, kernel_size=1)
        self.conv5x5 = nn.Conv2d(ch5x5red, ch5x5, kernel_size=5, padding=2)
        self.pool_proj = nn.Conv2d(in_ch, pool_proj, kernel_size=1)

    def forward(self, x):
        outs = [F.relu(self.conv1x1(x)),
                F.relu(self.conv3x3(F.relu(self.reduce3x3(x)))),
                F.relu(self.conv5x5(F.relu(self.reduce5x5(x)))),
                F.relu(self.pool_proj(F.max_pool2d(x, 3, stride=1, padding=1)))]
        return torch.cat(outs, 1)
''')

_add("inception_setattr_loop", "inception_module", True,
     "table-driven: setattr over a spec, one ReLU module shared in place", '''
class InceptionModule(nn.Module):
    def __init__(self, in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        spec = {"conv1x1": (in_ch, ch1x1, 1), "reduce3x3": (in_ch, ch3x3red, 1),
                "conv3x3": (ch3x3red, ch3x3, 3), "reduce5x5": (in_ch, ch5x5red, 1),
                "conv5x5": (ch5x5red, ch5x5, 5), "pool_proj": (in_ch, pool_proj, 1)}
        for name, (cin, cout, k) in spec.items():
            setattr(self, name, nn.Conv2d(cin, cout, k, padding=k // 2))
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        r = self.relu
        return torch.cat([r(self.conv1x1(x)), r(self.conv3x3(r(self.reduce3x3(x)))),
                          r(self.conv5x5(r(self.reduce5x5(x)))),
                          r(self.pool_proj(self.pool(x)))], dim=1)
''')

_add("inception_sequential", "inception_module", False,
     "torchvision style: nn.Sequential branches (right function, not the names asked for)",
     '''
class InceptionModule(nn.Module):
    def __init__(self, in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_ch, ch1x1, 1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(in_ch, ch3x3red, 1), nn.ReLU(),
                                     nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_ch, ch5x5red, 1), nn.ReLU(),
                                     nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU())
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(in_ch, pool_proj, 1),
                                     nn.ReLU())

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)],
                         1)
''')

_add("inception_zero_padded_pool", "inception_module", False,
     "pads the pool input with F.pad (zeros) before an unpadded max pool", '''
import torch.nn.functional as F


class InceptionModule(nn.Module):
    def __init__(self, in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_ch, ch1x1, 1)
        self.reduce3x3 = nn.Conv2d(in_ch, ch3x3red, 1)
        self.conv3x3 = nn.Conv2d(ch3x3red, ch3x3, 3, padding=1)
        self.reduce5x5 = nn.Conv2d(in_ch, ch5x5red, 1)
        self.conv5x5 = nn.Conv2d(ch5x5red, ch5x5, 5, padding=2)
        self.pool_proj = nn.Conv2d(in_ch, pool_proj, 1)

    def forward(self, x):
        pooled = F.max_pool2d(F.pad(x, [1, 1, 1, 1]), 3, 1)
        return torch.cat([F.relu(self.conv1x1(x)),
                          F.relu(self.conv3x3(F.relu(self.reduce3x3(x)))),
                          F.relu(self.conv5x5(F.relu(self.reduce5x5(x)))),
                          F.relu(self.pool_proj(pooled))], 1)
''')

# --------------------------------------------------------------------------------------------
# inception_cost
# --------------------------------------------------------------------------------------------

_add("cost_per_branch", "inception_cost", True, "one formula per branch, written out", '''
def inception_cost(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size,
                   bottleneck=True):
    hw = size * size
    b1 = (in_ch * ch1x1 + ch1x1, in_ch * ch1x1 * hw)
    bp = (in_ch * pool_proj + pool_proj, in_ch * pool_proj * hw)
    if bottleneck:
        b3 = (in_ch * ch3x3red + ch3x3red + 9 * ch3x3red * ch3x3 + ch3x3,
              (in_ch * ch3x3red + 9 * ch3x3red * ch3x3) * hw)
        b5 = (in_ch * ch5x5red + ch5x5red + 25 * ch5x5red * ch5x5 + ch5x5,
              (in_ch * ch5x5red + 25 * ch5x5red * ch5x5) * hw)
    else:
        b3 = (9 * in_ch * ch3x3 + ch3x3, 9 * in_ch * ch3x3 * hw)
        b5 = (25 * in_ch * ch5x5 + ch5x5, 25 * in_ch * ch5x5 * hw)
    return {"params": b1[0] + b3[0] + b5[0] + bp[0], "macs": b1[1] + b3[1] + b5[1] + bp[1]}
''')

_add("cost_flops", "inception_cost", False, "counts FLOPs (a multiply and an add each)", '''
def inception_cost(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size,
                   bottleneck=True):
    if bottleneck:
        convs = [(1, in_ch, ch1x1), (1, in_ch, ch3x3red), (3, ch3x3red, ch3x3),
                 (1, in_ch, ch5x5red), (5, ch5x5red, ch5x5), (1, in_ch, pool_proj)]
    else:
        convs = [(1, in_ch, ch1x1), (3, in_ch, ch3x3), (5, in_ch, ch5x5), (1, in_ch, pool_proj)]
    params = sum(k * k * a * b + b for k, a, b in convs)
    flops = sum(2 * k * k * a * b * size ** 2 for k, a, b in convs)
    return {"params": params, "macs": flops}
''')

_add("cost_bias_adds", "inception_cost", False, "adds one operation per bias and output", '''
def inception_cost(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size,
                   bottleneck=True):
    red3, red5 = (ch3x3red, ch5x5red) if bottleneck else (in_ch, in_ch)
    convs = [(1, in_ch, ch1x1), (3, red3, ch3x3), (5, red5, ch5x5), (1, in_ch, pool_proj)]
    if bottleneck:
        convs += [(1, in_ch, ch3x3red), (1, in_ch, ch5x5red)]
    params = sum((k * k * a + 1) * b for k, a, b in convs)
    macs = sum((k * k * a + 1) * b * size * size for k, a, b in convs)
    return {"params": params, "macs": macs}
''')

# --------------------------------------------------------------------------------------------
# ResidualBlock
# --------------------------------------------------------------------------------------------

_add("residual_functional", "residual_block", True,
     "functional ReLUs, the shortcut chosen in forward", '''
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super(ResidualBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride,
                               padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.proj_conv = None
        self.proj_bn = None
        if stride != 1 or in_channels != out_channels:
            self.proj_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride,
                                       bias=False)
            self.proj_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        identity = x
        if self.proj_conv is not None:
            identity = self.proj_bn(self.proj_conv(x))
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)
''')

_add("residual_inplace", "residual_block", True,
     "torchvision habit: one in-place ReLU module, `out += identity`", '''
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        needs = stride != 1 or in_channels != out_channels
        self.proj_conv = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False) \\
            if needs else None
        self.proj_bn = nn.BatchNorm2d(out_channels) if needs else None

    def forward(self, x):
        identity = x if self.proj_conv is None else self.proj_bn(self.proj_conv(x))
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)
''')

_add("residual_stride_only", "residual_block", False,
     "projection only when the stride changes (a channel change crashes)", '''
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.proj_conv = self.proj_bn = None
        if stride != 1:
            self.proj_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        sc = x if self.proj_conv is None else self.proj_bn(self.proj_conv(x))
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + sc)
''')

_add("residual_relu_then_add", "residual_block", False,
     "ReLU closes the residual branch, then the shortcut is added", '''
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.proj_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(out_channels)
        else:
            self.proj_conv = self.proj_bn = None

    def forward(self, x):
        out = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return out + (x if self.proj_conv is None else self.proj_bn(self.proj_conv(x)))
''')

_add("residual_biased_convs", "residual_block", False,
     "nn.Conv2d's default bias=True kept before batch norm", '''
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.proj_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
            self.proj_bn = nn.BatchNorm2d(out_channels)
        else:
            self.proj_conv = self.proj_bn = None

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.proj_conv is None else self.proj_bn(self.proj_conv(x))
        return torch.relu(out + sc)
''')
