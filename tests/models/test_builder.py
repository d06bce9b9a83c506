"""Tests of build_model: structure, KAN arguments, parameter counts and FLOPs.

The exhaustive parameter-count tests build every model on the meta device
with ``KANLinear.reset_parameters`` patched out. Initialisation runs a
pseudo-inverse per input feature and reads the grid back from the tensors,
which the meta device cannot do, and it would dominate the time. The
constructors still create every parameter with its real shape. A few models
per dataset are also built normally on the CPU.
"""

import time
import warnings

import pytest
import torch
from torch import nn

from kanbench.errors import ArchitectureSyntaxError, OutOfSpaceError, UnknownDatasetError
from kanbench.models.builder import (
    KAN_PROTOCOL_KWARGS,
    build_model,
    count_parameters,
    expected_num_params,
    kan_kwargs_for,
    resolve_architecture,
)
from kanbench.models.kan_linear import KANLinear
from kanbench.space import DATASETS, Architecture, SearchSpace, cost, get_dataset

torch.set_num_threads(1)

SAMPLE_SIZE = 2000
SAMPLE_SEED = 2024
TIME_LIMIT_SEC = 60.0


@pytest.fixture
def skip_kan_init(monkeypatch):
    monkeypatch.setattr(KANLinear, "reset_parameters", lambda self: None)


def _count_on_meta(architectures, dataset):
    """Return (arch, counted, analytic) for each architecture and the elapsed seconds."""
    start = time.perf_counter()
    rows = []
    with torch.device("meta"):
        for arch in architectures:
            model = build_model(arch, dataset)
            rows.append((arch, count_parameters(model), cost.num_params(arch, dataset)))
    return rows, time.perf_counter() - start


def test_structure_of_built_model():
    arch = Architecture.parse("Conv2d(k=3,p=1) -> Conv2d(k=5,p=0) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=GELU)")
    model = build_model(arch, "cifar100")

    names = [name for name, _ in model.named_children()]
    assert names == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "pool3", "flatten", "kan"]

    for position, (conv_layer, in_channels, out_channels) in enumerate(
        zip(arch.convs, (3, 8, 16), (8, 16, 32)), start=1
    ):
        conv = getattr(model, f"conv{position}")
        assert isinstance(conv, nn.Conv2d)
        assert conv.in_channels == in_channels
        assert conv.out_channels == out_channels
        assert conv.kernel_size == (conv_layer.kernel_size, conv_layer.kernel_size)
        assert conv.padding == (conv_layer.padding, conv_layer.padding)
        assert conv.stride == (1, 1)
        assert conv.bias is not None
        assert isinstance(getattr(model, f"relu{position}"), nn.ReLU)
        pool = getattr(model, f"pool{position}")
        assert isinstance(pool, nn.MaxPool2d)
        assert pool.kernel_size == 2
        assert pool.stride == 2


def test_kan_layer_follows_protocol():
    arch = Architecture.parse("Conv2d(k=3,p=1) -> Conv2d(k=5,p=0) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=GELU)")
    kan = build_model(arch, "cifar100").kan

    # 32 -> 16 -> 6 -> 2 pixels, 32 channels.
    assert kan.in_features == 32 * 2 * 2
    assert kan.in_features == cost.analyze(arch, "cifar100").kan_in_features
    assert kan.out_features == 100
    assert kan.grid_size == 8
    assert kan.spline_order == 4
    assert isinstance(kan.base_activation, nn.GELU)
    assert kan.scale_noise == 0.01
    assert kan.scale_base == 1.0
    assert kan.scale_spline == 1.0
    assert kan.grid_eps == 0.02
    assert kan.enable_standalone_scale_spline is True
    # grid_range [0, 1]: interior knots run from 0 to 1 in steps of 1/8.
    interior = kan.grid[0, kan.spline_order : kan.spline_order + kan.grid_size + 1]
    assert torch.allclose(interior, torch.linspace(0, 1, 9), atol=1e-6)


@pytest.mark.parametrize("activation, module", [("ReLU", nn.ReLU), ("GELU", nn.GELU), ("SiLU", nn.SiLU)])
def test_base_activation_per_architecture(activation, module):
    model = build_model(f"31.31.25{activation[0]}", "mnist")
    assert type(model.kan.base_activation) is module


@pytest.mark.parametrize("name", list(DATASETS))
def test_forward_output_shape(name):
    spec = get_dataset(name)
    arch = SearchSpace.for_dataset(name).sample(1, seed=3)[0]
    torch.manual_seed(0)
    model = build_model(arch, name)
    logits = model(torch.rand(2, *spec.input_shape))
    assert logits.shape == (2, spec.num_classes)
    assert torch.isfinite(logits).all()


def test_architecture_given_three_ways():
    space = SearchSpace.for_dataset("mnist")
    arch = space[1234]
    for given in (arch, str(arch), arch.to_compact(), 1234):
        torch.manual_seed(7)
        model = build_model(given, "mnist")
        assert model.kan.in_features == cost.analyze(arch, "mnist").kan_in_features
        assert model.kan.grid_size == arch.grid_size
    assert resolve_architecture(1234, "mnist") == arch
    assert resolve_architecture(arch.to_compact(), get_dataset("mnist")) == arch


def test_same_seed_gives_same_initial_weights():
    torch.manual_seed(5)
    first = build_model("31.51.48S", "cifar10").state_dict()
    torch.manual_seed(5)
    second = build_model("31.51.48S", "cifar10").state_dict()
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_kan_kwargs_override_protocol():
    model = build_model("31.51.48S", "cifar10", scale_noise=0.1, grid_range=[-1, 1], grid_eps=0.5)
    assert model.kan.scale_noise == 0.1
    assert model.kan.grid_eps == 0.5
    assert model.kan.grid[0, 4].item() == pytest.approx(-1.0)
    assert model.kan.grid[0, 4 + 8].item() == pytest.approx(1.0)


def test_kan_kwargs_for_leaves_protocol_unchanged():
    arch = Architecture.parse("31.51.48S")
    kwargs = kan_kwargs_for(arch, scale_noise=0.5)
    kwargs["grid_range"].append(99)
    assert KAN_PROTOCOL_KWARGS["grid_range"] == [0.0, 1.0]
    assert kan_kwargs_for(arch)["scale_noise"] == 0.01


@pytest.mark.parametrize("name", ["in_features", "out_features"])
def test_overriding_layer_size_raises(name):
    with pytest.raises(TypeError, match=name):
        build_model("31.51.48S", "cifar10", **{name: 5})


def test_unknown_kan_argument_raises():
    with pytest.raises(TypeError):
        build_model("31.51.48S", "cifar10", grid_sizes=5)


def test_architecture_too_deep_for_digits_raises():
    arch = "Conv2d(k=7,p=0) -> Conv2d(k=7,p=0) -> KAN(order=2,grid=5,act=ReLU)"
    with pytest.raises(OutOfSpaceError, match=r"conv 2 .* 1x1 .* 0x0"):
        build_model(arch, "digits")
    with pytest.raises(ValueError):
        build_model(arch, "digits")
    # 28 -> 11 -> 2 pixels on MNIST.
    assert build_model(arch, "mnist").kan.in_features == 16 * 2 * 2


def test_invalid_architectures_raise():
    with pytest.raises(OutOfSpaceError, match="arch_id 7020 is out of range"):
        build_model(7020, "digits")
    with pytest.raises(ArchitectureSyntaxError):
        build_model("not an architecture", "digits")
    with pytest.raises(UnknownDatasetError, match="imagenet"):
        build_model(0, "imagenet")
    with pytest.raises(TypeError, match="bool"):
        build_model(True, "digits")


def test_expected_num_params_tracks_kan_overrides():
    arch = Architecture.parse("31.51.48S")
    edges = cost.analyze(arch, "cifar10").kan_in_features * 10
    analytic = cost.num_params(arch, "cifar10")
    assert expected_num_params(arch, "cifar10") == analytic

    model = build_model(arch, "cifar10", enable_standalone_scale_spline=False)
    assert count_parameters(model) == analytic - edges
    assert expected_num_params(arch, "cifar10", enable_standalone_scale_spline=False) == analytic - edges


@pytest.mark.parametrize("name", list(DATASETS))
def test_num_params_with_real_initialisation(name):
    space = SearchSpace.for_dataset(name)
    for arch in space.sample(4, seed=11):
        model = build_model(arch, name)
        assert all(parameter.device.type == "cpu" for parameter in model.parameters())
        assert count_parameters(model) == cost.num_params(arch, name), str(arch)


def test_num_params_every_digits_architecture(skip_kan_init):
    space = SearchSpace.for_dataset("digits")
    assert len(space) == 7020

    rows, elapsed = _count_on_meta(space, "digits")

    assert len(rows) == 7020
    mismatches = [(str(arch), counted, analytic) for arch, counted, analytic in rows if counted != analytic]
    assert mismatches == []
    assert elapsed < TIME_LIMIT_SEC


@pytest.mark.parametrize("name", [name for name in DATASETS if name != "digits"])
def test_num_params_sample_of_architectures(skip_kan_init, name):
    space = SearchSpace.for_dataset(name)
    architectures = space.sample(SAMPLE_SIZE, seed=SAMPLE_SEED)

    rows, elapsed = _count_on_meta(architectures, name)

    assert len({str(arch) for arch, _, _ in rows}) == SAMPLE_SIZE
    mismatches = [(str(arch), counted, analytic) for arch, counted, analytic in rows if counted != analytic]
    assert mismatches == []
    assert elapsed < TIME_LIMIT_SEC


def test_meta_models_have_meta_parameters(skip_kan_init):
    with torch.device("meta"):
        model = build_model("31.51.48S", "stl10")
    assert {parameter.device.type for parameter in model.parameters()} == {"meta"}


def _flop_count_analysis():
    # fvcore 0.1.5 scripts a loss function at import, which torch 2.14 reports as deprecated.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
        from fvcore.nn import FlopCountAnalysis
    return FlopCountAnalysis


@pytest.mark.parametrize("name", list(DATASETS))
def test_conv_flops_match_fvcore(name):
    flop_count_analysis = _flop_count_analysis()
    spec = get_dataset(name)
    for arch in SearchSpace.for_dataset(name).sample(4, seed=17):
        model = build_model(arch, name)
        # Only the conv blocks are traced, because the KAN layer's FLOPs follow Yu et al.'s
        # formula, which fvcore's operator counts do not reproduce.
        conv_blocks = model[:-2]
        assert [child for child in conv_blocks.named_children()][-1][0] == f"pool{arch.depth}"
        analysis = flop_count_analysis(conv_blocks, torch.zeros(1, *spec.input_shape))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_module = analysis.by_module()

        conv_layers = [layer for layer in cost.analyze(arch, name).layers if layer.name.startswith("conv")]
        assert len(conv_layers) == arch.depth
        for layer in conv_layers:
            # fvcore counts one multiply-add as one FLOP; the cost model counts two.
            assert layer.num_flops % 2 == 0
            assert by_module[layer.name] == layer.num_flops // 2, f"{arch} {layer.name}"
        # ReLU, pooling and biases add nothing in either convention.
        assert analysis.total() == sum(layer.num_flops for layer in conv_layers) // 2
