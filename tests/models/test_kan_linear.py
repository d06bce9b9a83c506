"""Tests of kanbench.models.KANLinear against efficient-kan's reference vectors and the baseline."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from kanbench.models import KANLinear
from kanbench.models.kan_linear import b_spline_bases, is_uniform_grid, uniform_grid

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPO_ROOT / ".." / "shared" / "reference" / "efficient_kan"
PARAMETER_NAMES = ("grid", "base_weight", "spline_weight", "spline_scaler")
GRADIENT_NAMES = ("grad_x", "grad_base_weight", "grad_spline_weight", "grad_spline_scaler")


def _load_baseline_module():
    path = REPO_ROOT / "benchmarks" / "reference_kan.py"
    spec = importlib.util.spec_from_file_location("reference_kan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_kan = _load_baseline_module()


def _reference_case_names() -> list[str | None]:
    cases_file = REFERENCE_DIR / "cases.json"
    if not cases_file.is_file():
        return [None]
    return [case["case"] for case in json.loads(cases_file.read_text())]


@pytest.fixture(scope="module")
def reference_vectors():
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"efficient-kan reference vectors not found at {REFERENCE_DIR.resolve()}")
    cases = json.loads((REFERENCE_DIR / "cases.json").read_text())
    with np.load(REFERENCE_DIR / "kanlinear_vectors.npz") as arrays:
        vectors = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
    return {case["case"]: case for case in cases}, vectors


def _reference_layer(module_type, case: dict, vectors: dict) -> nn.Module:
    """Build a layer of ``module_type`` with the grid and parameters of a reference case."""
    activation = getattr(nn, case["base_activation"])
    if module_type is KANLinear:
        layer = KANLinear(
            case["in_features"],
            case["out_features"],
            grid_size=case["grid_size"],
            spline_order=case["spline_order"],
            base_activation=activation,
            grid_range=case["grid_range"],
        )
    else:
        layer = module_type(
            case["in_features"],
            case["out_features"],
            grid_size=case["grid_size"],
            spline_order=case["spline_order"],
            base_activation=activation,
        )
    name = case["case"]
    layer.load_state_dict({key: vectors[f"{name}/{key}"] for key in PARAMETER_NAMES})
    return layer


def _forward_backward(layer: nn.Module, x: torch.Tensor, upstream: torch.Tensor) -> dict:
    """Return the output and the gradients of ``(layer(x) * upstream).sum()``."""
    x = x.clone().requires_grad_(True)
    y = layer(x)
    (y * upstream).sum().backward()
    results = {"y": y.detach(), "grad_x": x.grad}
    for name in ("base_weight", "spline_weight", "spline_scaler"):
        results[f"grad_{name}"] = getattr(layer, name).grad
    return results


def _random_increasing_grid(in_features: int, n_knots: int, generator: torch.Generator) -> torch.Tensor:
    steps = torch.rand(in_features, n_knots - 1, generator=generator) * 0.5 + 0.05
    start = -torch.rand(in_features, 1, generator=generator) - 1.0
    return torch.cat([start, start + steps.cumsum(dim=1)], dim=1)


@pytest.mark.parametrize("case_name", _reference_case_names())
def test_reference_vectors_match(reference_vectors, case_name):
    cases, vectors = reference_vectors
    case = cases[case_name]
    layer = _reference_layer(KANLinear, case, vectors)

    results = _forward_backward(
        layer, vectors[f"{case_name}/x"], vectors[f"{case_name}/upstream_grad"]
    )

    for name in ("y", *GRADIENT_NAMES):
        torch.testing.assert_close(
            results[name], vectors[f"{case_name}/{name}"], rtol=1e-5, atol=1e-5, msg=name
        )
    torch.testing.assert_close(
        layer.regularization_loss().reshape(1),
        vectors[f"{case_name}/regularization_loss"],
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("case_name", _reference_case_names())
def test_bases_bit_exact_on_reference_inputs(reference_vectors, case_name):
    # The local recursion performs the full recursion's float operations, so
    # the bases are identical, not just close.
    cases, vectors = reference_vectors
    layer = _reference_layer(KANLinear, cases[case_name], vectors)
    x = vectors[f"{case_name}/x"]

    ours = layer.b_splines(x)
    theirs = reference_kan.cox_de_boor_bases(x, layer.grid, layer.spline_order)

    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("case_name", _reference_case_names())
def test_baseline_matches_reference_vectors(reference_vectors, case_name):
    cases, vectors = reference_vectors
    baseline = _reference_layer(reference_kan.ReferenceKANLinear, cases[case_name], vectors)

    results = _forward_backward(
        baseline, vectors[f"{case_name}/x"], vectors[f"{case_name}/upstream_grad"]
    )

    for name in ("y", *GRADIENT_NAMES):
        torch.testing.assert_close(
            results[name], vectors[f"{case_name}/{name}"], rtol=1e-5, atol=1e-5, msg=name
        )


def test_parameter_names_and_shapes():
    layer = KANLinear(6, 4, grid_size=5, spline_order=3)

    shapes = {name: tuple(parameter.shape) for name, parameter in layer.named_parameters()}

    assert list(shapes) == ["base_weight", "spline_weight", "spline_scaler"]
    assert shapes["base_weight"] == (4, 6)
    assert shapes["spline_weight"] == (4, 6, 8)
    assert shapes["spline_scaler"] == (4, 6)
    assert [name for name, _ in layer.named_buffers()] == ["grid"]
    assert tuple(layer.grid.shape) == (6, 12)
    assert list(layer.state_dict()) == ["base_weight", "spline_weight", "spline_scaler", "grid"]


def test_no_scaler_without_standalone_scale_spline():
    layer = KANLinear(3, 2, enable_standalone_scale_spline=False)

    names = [name for name, _ in layer.named_parameters()]

    assert names == ["base_weight", "spline_weight"]
    assert layer(torch.randn(5, 3)).shape == (5, 2)


def test_grid_buffer_values():
    layer = KANLinear(3, 2, grid_size=5, spline_order=3, grid_range=(-1, 1))

    expected = torch.tensor(
        [-2.2, -1.8, -1.4, -1.0, -0.6, -0.2, 0.2, 0.6, 1.0, 1.4, 1.8, 2.2], dtype=torch.float64
    )

    for row in layer.grid:
        torch.testing.assert_close(row.double(), expected, rtol=0, atol=1e-6)
    assert layer.grid.dtype == torch.float32
    assert layer.grid_is_uniform


def test_grid_buffer_values_custom_range():
    grid = uniform_grid(2, grid_size=4, spline_order=2, grid_range=(0.0, 1.0))

    expected = torch.tensor([-0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5])

    assert torch.equal(grid[0], expected)
    assert torch.equal(grid[1], expected)


def test_spline_zero_outside_knot_span():
    layer = KANLinear(2, 3, grid_size=5, spline_order=3)
    low, high = layer.grid[0, 0].item(), layer.grid[0, -1].item()
    x = torch.tensor([[low - 0.5, high + 0.5], [low - 1e-3, high], [-1e30, 1e30]])

    bases = layer.b_splines(x)
    output = layer(x)

    assert torch.count_nonzero(bases) == 0
    base_only = nn.functional.linear(nn.functional.silu(x), layer.base_weight)
    torch.testing.assert_close(output, base_only, rtol=0, atol=0)


def test_nan_input_gives_nan_output():
    layer = KANLinear(3, 2)
    x = torch.tensor([[0.1, math.nan, -0.4], [0.2, 0.3, 0.5]])

    output = layer(x)

    assert torch.isnan(output[0]).all()
    assert torch.isfinite(output[1]).all()


def test_bases_partition_of_unity_inside_grid_range():
    grid = uniform_grid(4, grid_size=7, spline_order=3, grid_range=(-1, 1))
    x = torch.rand(200, 4, dtype=torch.float64) * 2 - 1

    bases = b_spline_bases(x, grid.double(), 3)

    torch.testing.assert_close(bases.sum(dim=2), torch.ones(200, 4, dtype=torch.float64))
    assert bases.shape == (200, 4, 10)
    assert int((bases > 0).sum(dim=2).max()) == 4


def test_forward_accepts_leading_dimensions():
    layer = KANLinear(5, 3)
    x = torch.randn(2, 4, 5)

    output = layer(x)

    assert output.shape == (2, 4, 3)
    torch.testing.assert_close(output.reshape(8, 3), layer(x.reshape(8, 5)))


def test_forward_rejects_wrong_feature_count():
    layer = KANLinear(5, 3)

    with pytest.raises(ValueError, match=r"in_features=5.*\(4, 6\)"):
        layer(torch.randn(4, 6))


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        ({"grid_size": 0}, r"grid_size must be >= 1, got 0"),
        ({"spline_order": 0}, r"spline_order must be >= 1, got 0: degree 0"),
        ({"in_features": 0}, r"in_features must be >= 1, got 0"),
        ({"out_features": -2}, r"out_features must be >= 1, got -2"),
        ({"grid_size": 2.5}, r"grid_size must be an int, got 2.5"),
        ({"grid_range": (1, -1)}, r"grid_range must be finite with low < high, got \(1, -1\)"),
        ({"grid_range": (0, math.inf)}, r"grid_range must be finite"),
        ({"grid_range": "ab"}, r"grid_range must be a pair of numbers"),
        ({"grid_eps": 1.5}, r"grid_eps must lie in \[0, 1\], got 1.5"),
    ],
)
def test_invalid_constructor_arguments(arguments, pattern):
    settings = {"in_features": 3, "out_features": 2, **arguments}

    with pytest.raises(ValueError, match=pattern):
        KANLinear(**settings)


def test_initialisation_follows_scales():
    torch.manual_seed(0)
    layer = KANLinear(64, 32, grid_size=5, spline_order=3, scale_noise=0.1)

    bound = 1 / math.sqrt(64)
    base_max = float(layer.base_weight.detach().abs().max())
    scaler_max = float(layer.spline_scaler.detach().abs().max())
    spline_max = float(layer.spline_weight.detach().abs().max())

    assert 0.9 * bound < base_max <= bound
    assert 0.9 * bound < scaler_max <= bound
    assert torch.isfinite(layer.spline_weight).all()
    assert 0 < spline_max < 0.1


def test_update_grid_keeps_outputs_close():
    torch.manual_seed(0)
    layer = KANLinear(8, 4, grid_size=10, spline_order=2)
    x = torch.rand(512, 8) * 1.6 - 0.8
    with torch.no_grad():
        target = torch.sin(2 * x)[..., None] * torch.linspace(0.5, 1.5, 4)
        layer.spline_weight.copy_(layer.curve2coeff(x, target))
        before = layer(x)

        layer.update_grid(x)
        after = layer(x)

    assert not layer.grid_is_uniform
    assert float((after - before).abs().max()) <= 1e-3 * float(before.abs().max())
    assert float(layer.grid[:, 2].max()) < -0.75
    assert float(layer.grid[:, -3].min()) > 0.75


def test_update_grid_applies_scaler_once():
    torch.manual_seed(0)
    layer = KANLinear(8, 4, grid_size=5, spline_order=3)
    x = torch.rand(512, 8) * 1.6 - 0.8
    with torch.no_grad():
        target = torch.sin(2 * x)[..., None] * torch.linspace(0.5, 1.5, 4)
        layer.spline_weight.copy_(layer.curve2coeff(x, target))
        layer.spline_scaler.fill_(2.0)
        layer.base_weight.zero_()
        before = layer(x)

        layer.update_grid(x)
        after = layer(x)

    scale = float(before.abs().max())
    assert scale > 5
    assert float((after - before).abs().max()) <= 1e-3 * scale
    assert float((after - 2 * before).abs().max()) > 0.5 * scale


def test_update_grid_rank_deficient_gives_finite_weights():
    torch.manual_seed(0)
    layer = KANLinear(4, 3, grid_size=8, spline_order=3)
    x = torch.tensor(
        [
            [0.1, 0.5, 0.0, 0.3],
            [0.1, 0.5, 0.0, 0.3],
            [0.2, 0.5, 0.0, 0.3],
        ]
    )

    layer.update_grid(x)

    assert torch.isfinite(layer.spline_weight).all()
    assert torch.isfinite(layer.grid).all()
    assert bool((layer.grid.diff(dim=1) > 0).all())
    assert torch.isfinite(layer(torch.randn(16, 4))).all()


def test_update_grid_rejects_constant_feature_without_margin():
    layer = KANLinear(2, 1)
    x = torch.tensor([[0.0, 1.0], [0.0, 2.0]])

    with pytest.raises(ValueError, match=r"features \[0\] are constant.*margin > 0"):
        layer.update_grid(x, margin=0.0)


def test_update_grid_rejects_non_finite_inputs():
    layer = KANLinear(2, 1)

    with pytest.raises(ValueError, match="NaN or inf"):
        layer.update_grid(torch.tensor([[0.0, math.nan], [0.0, 1.0]]))


def test_non_uniform_grid_matches_baseline():
    generator = torch.Generator().manual_seed(1)
    layer = KANLinear(6, 5, grid_size=6, spline_order=3)
    with torch.no_grad():
        layer.grid.copy_(_random_increasing_grid(6, 13, generator))
        layer.spline_weight.normal_(generator=generator)
        layer.spline_scaler.normal_(generator=generator)
    baseline = reference_kan.ReferenceKANLinear.from_layer(layer)
    x = torch.randn(128, 6, generator=generator) * 1.5
    upstream = torch.randn(128, 5, generator=generator)

    ours = _forward_backward(layer, x, upstream)
    theirs = _forward_backward(baseline, x, upstream)

    assert not layer.grid_is_uniform
    assert torch.equal(layer.b_splines(x), reference_kan.cox_de_boor_bases(x, layer.grid, 3))
    for name in ("y", *GRADIENT_NAMES):
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-5, msg=name)


def test_non_uniform_grid_matches_baseline_float64():
    generator = torch.Generator().manual_seed(2)
    layer = KANLinear(4, 3, grid_size=5, spline_order=4).double()
    with torch.no_grad():
        layer.grid.copy_(_random_increasing_grid(4, 14, generator).double())
        layer.spline_weight.normal_(generator=generator)
    baseline = reference_kan.ReferenceKANLinear.from_layer(layer).double()
    x = torch.randn(64, 4, generator=generator, dtype=torch.float64)
    upstream = torch.randn(64, 3, generator=generator, dtype=torch.float64)

    ours = _forward_backward(layer, x, upstream)
    theirs = _forward_backward(baseline, x, upstream)

    for name in ("y", *GRADIENT_NAMES):
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-12, atol=1e-12, msg=name)


def test_uniform_and_search_paths_agree():
    generator = torch.Generator().manual_seed(3)
    grid = uniform_grid(16, grid_size=20, spline_order=5, grid_range=(-1, 1))
    x = torch.randn(256, 16, generator=generator).requires_grad_(True)
    weights = torch.randn(256, 16, 25, generator=generator)

    arithmetic = b_spline_bases(x, grid, 5, uniform=True)
    (grad_arithmetic,) = torch.autograd.grad((arithmetic * weights).sum(), x)
    search = b_spline_bases(x, grid, 5, uniform=False)
    (grad_search,) = torch.autograd.grad((search * weights).sum(), x)

    assert is_uniform_grid(grid)
    torch.testing.assert_close(arithmetic, search, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad_arithmetic, grad_search, rtol=1e-5, atol=1e-5)


def test_bases_match_full_recursion_per_feature_grids():
    generator = torch.Generator().manual_seed(4)
    grid = _random_increasing_grid(5, 10, generator).double()
    x = torch.rand(300, 5, generator=generator, dtype=torch.float64) * 6 - 3

    ours = b_spline_bases(x, grid, 2)
    theirs = reference_kan.cox_de_boor_bases(x, grid, 2)

    assert not is_uniform_grid(grid)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-14)


def test_repeated_knots_give_finite_bases():
    grid = torch.tensor([[-3.0, -2.0, -1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    x = torch.linspace(-0.99, 0.99, 101, dtype=torch.float64)[:, None].requires_grad_(True)

    bases = b_spline_bases(x, grid, 2)
    (grad_x,) = torch.autograd.grad(bases.sum(), x)

    assert torch.isfinite(bases).all()
    torch.testing.assert_close(bases.sum(dim=2), torch.ones(101, 1, dtype=torch.float64))
    torch.testing.assert_close(grad_x, torch.zeros_like(grad_x), rtol=0, atol=1e-12)


def test_grid_cache_follows_load_state_dict():
    generator = torch.Generator().manual_seed(5)
    layer = KANLinear(3, 2, grid_size=4, spline_order=2)
    x = torch.randn(32, 3, generator=generator)
    layer(x)
    state = layer.state_dict()
    state["grid"] = _random_increasing_grid(3, 9, generator)

    layer.load_state_dict(state)
    baseline = reference_kan.ReferenceKANLinear.from_layer(layer)

    assert not layer.grid_is_uniform
    assert torch.equal(layer(x), baseline(x))


def test_input_gradient_matches_finite_differences():
    generator = torch.Generator().manual_seed(6)
    layer = KANLinear(3, 2, grid_size=5, spline_order=3).double()
    x = (torch.rand(20, 3, generator=generator, dtype=torch.float64) * 1.8 - 0.9).requires_grad_(True)

    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6)


def test_regularization_loss_zero_weights_is_finite():
    layer = KANLinear(3, 2)
    with torch.no_grad():
        layer.spline_weight.zero_()
        layer.spline_weight[0, 0, 0] = 2.0

    loss = layer.regularization_loss()

    # l1 has one non-zero entry, 2 / n_bases, so the entropy term is 0.
    torch.testing.assert_close(loss, torch.tensor(2.0 / 8))
