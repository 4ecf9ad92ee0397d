"""Encoders by name: adding an encoder is one :func:`register_encoder` entry.

An encoder maps (N, C, H, W) images to (N, F) features and says its own feature width as
``num_features``; nothing else in lensscan keeps a table of widths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from lensscan.errors import SettingError, UserError
from lensscan.models.compact_resnet import CompactResNet
from lensscan.models.ecnn import EquivariantCNN
from lensscan.naming import canonical_name

EncoderBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class EncoderSpec:
    """A registered encoder.

    Attributes:
        name: Registry name (used on the command line and in model cards).
        builder: ``builder(in_chans, **options) -> nn.Module`` with ``num_features``.
        description: One line for help texts.
        min_input_size: Smallest image side the encoder accepts.
        size_multiple: Image sides should be a multiple of this (1 = any size).
    """

    name: str
    builder: EncoderBuilder
    description: str
    min_input_size: int = 8
    size_multiple: int = 1


ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(
    name: str, description: str, *, min_input_size: int = 8, size_multiple: int = 1
) -> Callable[[EncoderBuilder], EncoderBuilder]:
    """Decorator adding an encoder builder to :data:`ENCODERS`."""

    def add(builder: EncoderBuilder) -> EncoderBuilder:
        if name in ENCODERS:
            raise ValueError(f"encoder {name!r} is registered twice")
        ENCODERS[name] = EncoderSpec(name, builder, description, min_input_size, size_multiple)
        return builder

    return add


def encoder_spec(name: str, option: str = "encoder") -> EncoderSpec:
    """Look up a registered encoder.

    Args:
        name: The encoder's registry name.
        option: The setting that gave the name (``encoder``), for messages.

    Raises:
        SettingError: Naming the valid encoders, if ``name`` is not one.
    """
    key = canonical_name(name)
    if key not in ENCODERS:
        raise SettingError(option, name, f"unknown encoder; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[key]


def create_encoder(name: str, in_chans: int, **options: Any) -> nn.Module:
    """Build a registered encoder with freshly initialised weights.

    Args:
        name: Registry name.
        in_chans: Number of input bands.
        **options: Builder-specific options (recorded in the model card).

    Returns:
        The encoder; ``encoder.num_features`` is its feature width.
    """
    encoder = encoder_spec(name).builder(in_chans, **options)
    if not isinstance(getattr(encoder, "num_features", None), int):
        raise TypeError(f"encoder {name!r} does not define an integer num_features")
    return encoder


def check_input_size(name: str, size: int, source: str) -> None:
    """Check that square images of side ``size`` fit an encoder.

    Raises:
        UserError: If the size is too small or not a multiple the encoder needs.
    """
    spec = encoder_spec(name)
    if size < spec.min_input_size:
        raise UserError(
            f"{source}: {size} px images are too small for encoder {name!r} "
            f"(needs at least {spec.min_input_size} px)"
        )
    if size % spec.size_multiple:
        raise UserError(
            f"{source}: encoder {name!r} needs image sides divisible by {spec.size_multiple}, "
            f"got {size} px"
        )


class SmallCNN(nn.Module):
    """A small, fast CNN for CPU scanning and tests: four conv-BN-ReLU-pool blocks.

    Args:
        in_chans: Input bands.
        widths: Channels of the four blocks.
    """

    def __init__(self, in_chans: int, widths: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_chans
        for width in widths:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.body = nn.Sequential(*layers)
        self.num_features = int(widths[-1])

    def forward(self, x: Any) -> Any:
        """(N, C, H, W) -> (N, num_features) by global average pooling."""
        return self.body(x).mean(dim=(-2, -1))


@register_encoder("small_cnn", "4-block CNN, ~25k parameters, fast on CPU", min_input_size=16)
def _small_cnn(in_chans: int, **options: Any) -> nn.Module:
    return SmallCNN(in_chans, **options)


@register_encoder(
    "resnet_compact",
    "residual CNN for 64 px cutouts (full-resolution stem), ~0.3M parameters",
    min_input_size=16,
    size_multiple=8,
)
def _resnet_compact(in_chans: int, **options: Any) -> nn.Module:
    return CompactResNet(in_chans, **options)


def _timm_encoder(model_name: str) -> EncoderBuilder:
    def build(in_chans: int, **options: Any) -> nn.Module:
        import timm

        # num_classes=0 makes timm return pooled features; pretrained weights would need a
        # model hub, so encoders start from scratch or from --init-checkpoint.
        return timm.create_model(
            model_name, pretrained=False, num_classes=0, in_chans=in_chans, **options
        )

    return build


for _name, _description in (
    ("efficientnet_b2", "timm EfficientNet-B2"),
    ("resnet34", "timm ResNet-34"),
    ("densenet121", "timm DenseNet-121"),
):
    register_encoder(_name, _description, min_input_size=32)(_timm_encoder(_name))


@register_encoder(
    "ecnn",
    "D4-equivariant CNN, group-pooled invariant features",
    min_input_size=16,
    size_multiple=16,
)
def _ecnn(in_chans: int, **options: Any) -> nn.Module:
    return EquivariantCNN(in_chans, rotations=4, **options)


@register_encoder(
    "ecnn_d8",
    "D8-equivariant CNN (45 degree filter sharing), group-pooled",
    min_input_size=16,
    size_multiple=16,
)
def _ecnn_d8(in_chans: int, **options: Any) -> nn.Module:
    return EquivariantCNN(in_chans, rotations=8, **options)
