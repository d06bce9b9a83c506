"""Build the PyTorch module of an architecture.

Usage::

    >>> import torch
    >>> from kanbench.models.builder import build_model
    >>> model = build_model("31.51.48S", "cifar10")
    >>> model(torch.zeros(64, 3, 32, 32)).shape
    torch.Size([64, 10])
    >>> build_model(0, "mnist", scale_noise=0.1)   # arch_id; KAN argument overridden

The network follows the NAS-KAN authors' protocol. Conv block ``i`` is
``Conv2d(in, 8 * 2**(i-1), k, stride=1, padding=p) -> ReLU -> MaxPool2d(2)``,
and the blocks are followed by ``Flatten`` and one efficient-kan ``KANLinear``
from the flattened feature map to the class logits. Module names are
``conv1, relu1, pool1, ..., flatten, kan``, the layer names of
:func:`kanbench.space.cost.analyze`, so state_dict keys read
``conv1.weight`` or ``kan.spline_weight``.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from kanbench.models.kan_linear import KANLinear
from kanbench.space import Architecture, DatasetSpec, SearchSpace, cost, get_dataset

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"ReLU": nn.ReLU, "GELU": nn.GELU, "SiLU": nn.SiLU}
"""The KAN layer's base activation class for each activation name of the search space."""

KAN_PROTOCOL_KWARGS: dict[str, object] = {
    "scale_noise": 0.01,
    "scale_base": 1.0,
    "scale_spline": 1.0,
    "enable_standalone_scale_spline": True,
    "grid_eps": 0.02,
    "grid_range": [0.0, 1.0],
}
"""``KANLinear`` arguments of the authors' protocol that the architecture does not fix.

``scale_noise`` and ``grid_range`` differ from efficient-kan's defaults (0.1
and [-1, 1]); the others are efficient-kan's defaults.
"""

ARCHITECTURE_KAN_KWARGS = ("grid_size", "spline_order", "base_activation")
"""``KANLinear`` arguments that come from the architecture's KAN choices."""


def resolve_dataset(dataset: str | DatasetSpec) -> DatasetSpec:
    """Return the :class:`DatasetSpec` of a built-in dataset name, or ``dataset`` itself.

    Raises:
        UnknownDatasetError: ``dataset`` is a name that is not built in.
    """
    return dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)


def resolve_architecture(arch: Architecture | str | int, dataset: str | DatasetSpec) -> Architecture:
    """Return the architecture given as an object, a string or an arch_id, checked against ``dataset``.

    Strings may be canonical (``Conv2d(k=3,p=1) -> ... -> KAN(order=4,grid=8,act=SiLU)``)
    or compact (``31.51.48S``). An int is an arch_id of the dataset's search space.

    Raises:
        UnknownDatasetError: ``dataset`` is a name that is not built in.
        ArchitectureSyntaxError: a string is in no supported notation.
        InvalidArchitectureError: the architecture breaks a rule of the search space.
        OutOfSpaceError: the spatial size reaches 0 on this dataset's input, or
            the arch_id is out of range.
        TypeError: ``arch`` is of another type.
    """
    spec = resolve_dataset(dataset)
    space = SearchSpace.for_shape(spec.input_shape)

    if isinstance(arch, str):
        arch = Architecture.parse(arch)
    elif isinstance(arch, int) and not isinstance(arch, bool):
        return space[arch]
    elif not isinstance(arch, Architecture):
        raise TypeError(f"expected an Architecture, an architecture string or an arch_id, not {type(arch).__name__}")

    space.validate(arch)
    return arch


def kan_kwargs_for(arch: Architecture, **overrides: object) -> dict[str, object]:
    """Return the ``KANLinear`` keyword arguments of the protocol for ``arch``.

    The result contains ``grid_size``, ``spline_order`` and ``base_activation``
    (a module class) from the architecture and :data:`KAN_PROTOCOL_KWARGS`,
    with ``overrides`` applied last.

    Raises:
        TypeError: ``overrides`` sets ``in_features`` or ``out_features``,
            which the dataset and the conv blocks fix.
    """
    fixed = {"in_features", "out_features"} & set(overrides)
    if fixed:
        raise TypeError(
            f"cannot override {', '.join(sorted(fixed))}: the conv blocks and the dataset's class "
            "count fix the KAN layer's input and output features"
        )
    kwargs: dict[str, object] = {
        "grid_size": arch.grid_size,
        "spline_order": arch.spline_order,
        "base_activation": ACTIVATION_MODULES[arch.activation],
        **KAN_PROTOCOL_KWARGS,
    }
    kwargs["grid_range"] = list(KAN_PROTOCOL_KWARGS["grid_range"])  # a fresh list per model
    kwargs.update(overrides)
    return kwargs


def build_model(arch: Architecture | str | int, dataset: str | DatasetSpec, **kan_kwargs: object) -> nn.Sequential:
    """Build the untrained network of ``arch`` for ``dataset``.

    Args:
        arch: an :class:`Architecture`, an architecture string or an arch_id
            of the dataset's search space.
        dataset: a built-in dataset name or a :class:`DatasetSpec`; it fixes
            the input shape and the number of classes.
        **kan_kwargs: ``KANLinear`` arguments that replace the protocol's
            (see :func:`kan_kwargs_for`), e.g. ``scale_noise=0.1``.

    Returns:
        An ``nn.Sequential`` that maps a float batch ``(N, C, H, W)`` to logits
        ``(N, num_classes)``. Parameters are initialised from torch's global
        RNG, so seed it first for a reproducible model. Building inside
        ``with torch.device(...)`` places the conv layers on that device.

    Raises:
        UnknownDatasetError, ArchitectureSyntaxError, InvalidArchitectureError,
        OutOfSpaceError: see :func:`resolve_architecture`; all but the first are
        ``ValueError`` subclasses.
        TypeError: ``kan_kwargs`` sets ``in_features`` or ``out_features``, or
            names an argument ``KANLinear`` does not take.
    """
    spec = resolve_dataset(dataset)
    arch = resolve_architecture(arch, spec)
    kan_in_features = cost.analyze(arch, spec).kan_in_features

    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = spec.in_channels
    for position, (conv, out_channels) in enumerate(zip(arch.convs, arch.channels), start=1):
        layers[f"conv{position}"] = nn.Conv2d(
            in_channels, out_channels, conv.kernel_size, stride=1, padding=conv.padding
        )
        layers[f"relu{position}"] = nn.ReLU()
        layers[f"pool{position}"] = nn.MaxPool2d(2)
        in_channels = out_channels

    layers["flatten"] = nn.Flatten()
    layers["kan"] = KANLinear(kan_in_features, spec.num_classes, **kan_kwargs_for(arch, **kan_kwargs))
    return nn.Sequential(layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter elements of ``model``."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def expected_num_params(arch: Architecture, dataset: str | DatasetSpec, **kan_kwargs: object) -> int:
    """Analytic parameter count of ``build_model(arch, dataset, **kan_kwargs)``.

    Equals :func:`kanbench.space.cost.num_params` with the protocol's KAN
    arguments. ``enable_standalone_scale_spline=False`` removes the
    ``spline_scaler`` (``in * out`` parameters), and overriding ``grid_size``
    or ``spline_order`` changes the spline weights.
    """
    spec = resolve_dataset(dataset)
    arch = resolve_architecture(arch, spec)
    report = cost.analyze(arch, spec)
    kwargs = kan_kwargs_for(arch, **kan_kwargs)

    conv_params = sum(layer.num_params for layer in report.layers if layer.name != "kan")
    edges = report.kan_in_features * spec.num_classes
    coefficients_per_edge = int(kwargs["grid_size"]) + int(kwargs["spline_order"])  # type: ignore[call-overload]
    scalers_per_edge = 1 if kwargs["enable_standalone_scale_spline"] else 0
    return conv_params + edges * (1 + coefficients_per_edge + scalers_per_edge)


__all__ = [
    "ACTIVATION_MODULES",
    "ARCHITECTURE_KAN_KWARGS",
    "KAN_PROTOCOL_KWARGS",
    "build_model",
    "count_parameters",
    "expected_num_params",
    "kan_kwargs_for",
    "resolve_architecture",
    "resolve_dataset",
]
