"""cnnlib.models: shapes and exact parameter counts against the published reference numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlib import models as M

# Exact counts of the reference (torchvision) definitions at 1000 classes; torchvision itself
# is deliberately not a dependency, so the numbers are written down here.
REFERENCE_PARAMS = {
    "vgg11": (lambda: M.VGG(11), 132_863_336),
    "vgg16": (lambda: M.VGG(16), 138_357_544),
    "vgg19": (lambda: M.VGG(19), 143_667_240),
    "vgg16_bn": (lambda: M.VGG(16, batch_norm=True), 138_365_992),
    "resnet18": (M.resnet18, 11_689_512),
    "resnet34": (M.resnet34, 21_797_672),
    "resnet50": (M.resnet50, 25_557_032),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS))
def test_reference_parameter_counts(name):
    make, expected = REFERENCE_PARAMS[name]
    assert M.count_params(make()) == expected


def _conv_linear_params(model: nn.Module) -> list[int]:
    return [sum(p.numel() for p in m.parameters()) for m in model.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_alexnet_layer_shapes_and_counts():
    model = M.AlexNet().eval()
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.Linear))]
    out = model(torch.zeros(1, 3, 227, 227))
    for h in hooks:
        h.remove()
    assert out.shape == (1, 1000)
    assert shapes == [(96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13), (384, 13, 13),
                      (384, 13, 13), (256, 13, 13), (256, 6, 6), (4096,), (4096,), (1000,)]
    first = model.features[0]
    assert first.kernel_size == (11, 11) and first.stride == (4, 4) and first.padding == (0, 0)
    conv1 = _conv_linear_params(model)[0]
    assert conv1 == 11 * 11 * 3 * 96 + 96 == 34_944
    assert M.count_params(model) == 62_378_344
    assert any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())


def test_alexnet_conv1_via_layer_table():
    arith = pytest.importorskip("cnnlib.arith")
    table = arith.layer_table(M.AlexNet(), (3, 227, 227))
    convs = [r for r in table.to_dicts() if "conv" in str(r.get("kind", "")).lower()]
    first = convs[0]
    assert tuple(first["output_shape"])[-3:] in {(96, 55, 55), (55, 55, 96)}
    assert first["params"] == 34_944
    assert table.total_params == 62_378_344


def test_vgg16_only_3x3_convs_and_2x2_pools():
    model = M.VGG(16)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == 13 and len(pools) == 5
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (1, 1)
               for c in convs)
    assert all(p.kernel_size == 2 and p.stride == 2 for p in pools)
    fc = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [f.in_features for f in fc] == [512 * 7 * 7, 4096, 4096]


def test_vgg_custom_config_and_small_input():
    model = M.VGG([8, "M", 16, "M"], num_classes=10, in_channels=1, fc_width=32, pool_size=2)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    expected = ((9 * 1 * 8 + 8) + (9 * 8 * 16 + 16) + (16 * 4 * 32 + 32) + (32 * 32 + 32)
                + (32 * 10 + 10))
    assert M.count_params(model) == expected


@pytest.mark.parametrize("bad, exc", [(15, ValueError), ([8, "X"], ValueError), ("16", TypeError)])
def test_vgg_rejects_bad_depth(bad, exc):
    with pytest.raises(exc):
        M.VGG(bad)


def test_lenet5_classic_and_small_inputs():
    assert M.count_params(M.LeNet5()) == 61_706
    assert M.LeNet5()(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert M.LeNet5(input_size=8)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    lenet28 = M.LeNet5(num_classes=3, in_channels=3, input_size=28)
    assert lenet28(torch.zeros(1, 3, 28, 28)).shape == (1, 3)
    with pytest.raises(ValueError, match="too small"):
        M.LeNet5(input_size=8, padding=0)


def test_small_convnet_shapes():
    m = M.SmallConvNet(num_classes=2, in_channels=1, input_size=25, width=8)
    assert m(torch.zeros(3, 1, 25, 25)).shape == (3, 2)
    with pytest.raises(ValueError, match="input_size"):
        M.SmallConvNet(input_size=3)


def test_inception_module_channels_and_params():
    # GoogLeNet's inception (3a): 192 -> 64 + 128 + 32 + 32 = 256 channels
    mod = M.InceptionModule(192, 64, 96, 128, 16, 32, 32)
    assert mod.out_channels == 256
    assert mod(torch.zeros(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    expected = (192 * 64 + 64) + (192 * 96 + 96) + (9 * 96 * 128 + 128) + (192 * 16 + 16) \
        + (25 * 16 * 32 + 32) + (192 * 32 + 32)
    assert M.count_params(mod) == expected == 163_696
    # (4a): 480 -> 192 + 208 + 48 + 64 = 512
    mod4a = M.InceptionModule(480, 192, 96, 208, 16, 48, 64)
    assert mod4a(torch.zeros(1, 480, 14, 14)).shape[1] == 512


def test_small_googlenet_aux_head_only_in_training():
    m = M.SmallGoogLeNet(num_classes=7, aux=True)
    out = m.train()(torch.randn(2, 3, 32, 32))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 7), (2, 7)]
    assert m.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert not any(isinstance(x, nn.Linear) and x.in_features > 1024 for x in m.modules())


@pytest.mark.parametrize("cin, cout, stride, proj", [(16, 16, 1, False), (16, 32, 2, True),
                                                    (8, 8, 2, True), (8, 12, 1, True)])
def test_basic_block_shortcut_and_shape(cin, cout, stride, proj):
    b = M.BasicBlock(cin, cout, stride)
    assert (b.downsample is not None) == proj
    out = b(torch.randn(2, cin, 9, 9))
    assert out.shape == (2, cout, math.ceil(9 / stride), math.ceil(9 / stride))
    assert out.min() >= 0  # ReLU after the addition
    expected = 9 * cin * cout + 9 * cout * cout + 4 * cout + (cin * cout + 2 * cout) * proj
    assert M.count_params(b) == expected


def test_basic_block_identity_when_residual_branch_is_zero():
    b = M.BasicBlock(4, 4).eval()
    nn.init.zeros_(b.bn2.weight)  # F(x) = 0 -> out = relu(x)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(b(x), torch.relu(x))


def test_bottleneck_expansion_and_projection():
    b = M.Bottleneck(64, 64)  # first block of ResNet-50: 64 -> 256 needs a projection
    assert b.downsample is not None
    assert b(torch.randn(1, 64, 8, 8)).shape == (1, 256, 8, 8)
    assert M.Bottleneck(256, 64).downsample is None
    assert M.Bottleneck(256, 128, stride=2)(torch.randn(1, 256, 8, 8)).shape == (1, 512, 4, 4)


def test_resnet_forward_and_he_init():
    torch.manual_seed(0)
    m = M.resnet18(num_classes=5)
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 5)
    w = m.layer3[0].conv1.weight  # 256 x 128 x 3 x 3: fan_in 1152 (fan_out would be 2304)
    assert float(w.detach().std()) == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.02)
    bn = m.layer3[0].bn2
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    with pytest.raises(ValueError, match="4 stages"):
        M.ResNet(M.BasicBlock, [2, 2, 2])


@pytest.mark.parametrize("depth", [8, 20, 32])
def test_cifar_resnet_and_plain_twin(depth):
    res, plain = M.cifar_resnet(depth), M.PlainNet(depth)
    convs = [m for m in res.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == depth  # 6n+2 = 3x3 convs + the FC layer
    assert len([m for m in plain.modules() if isinstance(m, nn.Conv2d)]) + 1 == depth
    x = torch.randn(2, 3, 32, 32)
    assert res(x).shape == plain(x).shape == (2, 10)
    # the only extra parameters of the residual net are the two projection shortcuts
    assert M.count_params(res) - M.count_params(plain) == (16 * 32 + 64) + (32 * 64 + 128)


def test_cifar_resnet20_param_count_and_bad_depth():
    assert M.count_params(M.cifar_resnet(20)) == 272_474
    with pytest.raises(ValueError, match="6n\\+2"):
        M.cifar_resnet(18)


def test_convnetjs_net_per_layer_params():
    m = M.ConvNetJSNet()
    assert _conv_linear_params(m) == [1216, 8020, 10020, 3210]
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="num_classes"):
        M.ConvNetJSNet(num_classes=0)
    with pytest.raises(ValueError, match="stride"):
        M.BasicBlock(4, 4, stride=0)


def _inception_params(cin: int, c1: int, r3: int, c3: int, r5: int, c5: int, pp: int) -> int:
    return (cin * c1 + c1) + (cin * r3 + r3) + (9 * r3 * c3 + c3) + (cin * r5 + r5) \
        + (25 * r5 * c5 + c5) + (cin * pp + pp)


def test_googlenet_matches_the_paper_table() -> None:
    stem = (7 * 7 * 3 * 64 + 64) + (64 * 64 + 64) + (9 * 64 * 192 + 192)
    modules = sum(_inception_params(*cfg) for item in M.GOOGLENET_CFG if item != "pool"
                  for cfg in [item[1]])
    expected = stem + modules + (1024 * 1000 + 1000)
    assert expected == 6_998_552  # weights and biases, no auxiliary classifiers
    with torch.device("meta"):  # shapes and counts only: no memory, no time
        net = M.GoogLeNet()
        assert M.count_params(net) == expected
        assert net.eval()(torch.empty(2, 3, 224, 224)).shape == (2, 1000)
        aux = M.GoogLeNet(num_classes=10, aux=True)
        outs = aux.train()(torch.empty(2, 3, 224, 224))
    assert [tuple(o.shape) for o in outs] == [(2, 10)] * 3
    head = (512 + 528) * 128 + 2 * 128 + 2 * (2048 * 1024 + 1024 + 1024 * 10 + 10)
    assert M.count_params(aux) == M.count_params(M.GoogLeNet(num_classes=10)) + head


def _uncovered_real_cells(layer: nn.Module, shape: tuple[int, ...]) -> int:
    """Input cells of one conv/pool layer that no window reads (the gradient of the sum of an
    all-ones computation with the layer's geometry is 0 there)."""
    x = torch.ones(1, 1, *shape[-2:], requires_grad=True)
    k, s, p = (torch.nn.modules.utils._pair(getattr(layer, a)) for a in
               ("kernel_size", "stride", "padding"))
    if isinstance(layer, nn.Conv2d):
        d = layer.dilation
        out = nn.functional.conv2d(x, torch.ones(1, 1, *k), stride=s, padding=p, dilation=d)
    else:
        out = nn.functional.avg_pool2d(x, k, s, p, ceil_mode=getattr(layer, "ceil_mode", False))
    out.sum().backward()
    return int((x.grad == 0).sum())


COURSE_MODELS = {
    "LeNet5 at 32": (M.LeNet5, (1, 32, 32)),
    "LeNet5 at 28": (lambda: M.LeNet5(input_size=28), (1, 28, 28)),
    "SmallConvNet at 8 (digits)": (M.SmallConvNet, (1, 8, 8)),
    "SmallConvNet at 25 (faces)": (lambda: M.SmallConvNet(2, 1, 25, 16), (1, 25, 25)),
    "AlexNet at 227": (M.AlexNet, (3, 227, 227)),
    "VGG16 at 224": (lambda: M.VGG(16), (3, 224, 224)),
    "GoogLeNet at 224": (M.GoogLeNet, (3, 224, 224)),
    "SmallGoogLeNet at 32": (M.SmallGoogLeNet, (3, 32, 32)),
    "ResNet-50 at 224": (M.resnet50, (3, 224, 224)),
    "CIFAR ResNet-20 at 32": (M.cifar_resnet, (3, 32, 32)),
    "CIFAR ResNet-8 at 8 (digits)": (lambda: M.cifar_resnet(8, in_channels=1), (1, 8, 8)),
    "ConvNetJSNet at 32": (M.ConvNetJSNet, (3, 32, 32)),
}


@pytest.mark.parametrize("name", list(COURSE_MODELS))
def test_course_models_never_drop_real_pixels_when_sizes_floor(name: str) -> None:
    # What notebook 1 teaches: flooring a size is harmless only when what is left over is
    # padding. Layers whose stride is wider than their window subsample by design (1x1/2).
    make, shape = COURSE_MODELS[name]
    with torch.device("meta"):
        model = make().eval()
    seen: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    hooks = [m.register_forward_pre_hook(
        lambda mod, args, n=n: seen.append((n, mod, tuple(args[0].shape))))
        for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    with torch.no_grad():
        model(torch.empty(1, *shape, device="meta"))
    for h in hooks:
        h.remove()
    checked = 0
    for layer_name, layer, in_shape in seen:
        k = torch.nn.modules.utils._pair(layer.kernel_size)
        s = torch.nn.modules.utils._pair(layer.stride)
        d = torch.nn.modules.utils._pair(getattr(layer, "dilation", 1))
        if s == (1, 1) or any(di * (ki - 1) + 1 < si for ki, si, di in zip(k, s, d)):
            continue
        checked += 1
        assert _uncovered_real_cells(layer, in_shape) == 0, (layer_name, in_shape)
    assert checked > 0
