"""The model card: everything needed to use a set of weights correctly, saved as model.json."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lensscan import __version__
from lensscan.errors import UserError

CARD_FORMAT = "lensscan-model/1"

#: How the network's single output becomes a probability; the same for every lensscan model.
OUTPUT = "one logit; P(lens) = sigmoid(logit)"

#: The ``encoder`` of an ensemble whose members have different encoders.
MIXED_ENCODER = "mixed"

#: Keys of each ``components`` entry of a mixed ensemble's card.
COMPONENT_KEYS = ("encoder", "encoder_options", "members")


@dataclass(frozen=True)
class ModelCard:
    """Typed description of a trained (or untrained) lens finder.

    Attributes:
        name: The model's name (its weights folder name).
        encoder: Registry name of the encoder.
        method: Training method (``supervised``, ``adda``, ... or ``untrained``).
        bands: Band names in input-channel order.
        pixel_scale: Pixel scale in arcsec the model was trained at (None if unknown).
        input_size: Side in pixels of the square cutouts the model takes.
        normalisation: The normalisation's settings (``kind`` plus parameters).
        encoder_options: Keyword options the encoder was built with.
        output: How the output maps to P(lens).
        imbalance: How the class imbalance was handled in training.
        selection: The model-selection rule and the epoch it chose.
        metrics: Per-epoch metrics and the selected epoch's metrics.
        training: Training stores with content hashes, seed, epochs, resolved settings.
        provenance: The lensscan provenance record of the run.
        lensscan_version: Version of lensscan that wrote the card.
        weights_sha256: SHA-256 of model.safetensors (None until saved).
        members: 1 for a single network; N for an ensemble of N networks whose logits are
            averaged (``lensscan models ensemble``).
        components: For an ensemble of different encoders (``encoder`` is
            :data:`MIXED_ENCODER`), one entry per member: its ``encoder``,
            ``encoder_options`` and ``members`` (a member may itself be an ensemble of one
            encoder). Empty otherwise.
        card_format: Version of this card layout.
    """

    name: str
    encoder: str
    method: str
    bands: tuple[str, ...]
    pixel_scale: float | None
    input_size: int
    normalisation: dict[str, Any]
    encoder_options: dict[str, Any] = field(default_factory=dict)
    output: str = OUTPUT
    imbalance: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    lensscan_version: str = __version__
    weights_sha256: str | None = None
    members: int = 1
    components: list[dict[str, Any]] = field(default_factory=list)
    card_format: str = CARD_FORMAT

    @property
    def is_mixed(self) -> bool:
        """Whether the model is an ensemble of different encoders (see ``components``)."""
        return self.encoder == MIXED_ENCODER

    def member_component(self, index: int) -> dict[str, Any]:
        """Encoder, encoder options and size of member ``index`` of an ensemble.

        A mixed ensemble's member has its own (its ``components`` entry, possibly an
        ensemble itself); a member of any other ensemble is one network of the card's
        encoder.
        """
        if self.is_mixed:
            return self.components[index]
        return {"encoder": self.encoder, "encoder_options": self.encoder_options, "members": 1}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (bands as a list)."""
        data = dataclasses.asdict(self)
        data["bands"] = list(self.bands)
        return data

    def to_json(self) -> str:
        """The card as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model card") -> ModelCard:
        """Rebuild a card, checking its format and required fields.

        Args:
            data: The dict from :meth:`to_dict` (or model.json).
            source: Where it came from, for error messages.

        Raises:
            UserError: If the format is unknown or a field is missing or malformed.
        """
        if data.get("card_format") != CARD_FORMAT:
            raise UserError(
                f"{source}: unsupported card format {data.get('card_format')!r} "
                f"(this lensscan reads {CARD_FORMAT})"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if _is_required(f)}
        missing = sorted(required - set(data))
        if missing:
            raise UserError(f"{source}: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(data) - names)
        if unknown:
            raise UserError(f"{source}: unknown field(s) {', '.join(unknown)}")
        values = dict(data)
        try:
            values["bands"] = tuple(str(b) for b in values["bands"])
            values["input_size"] = int(values["input_size"])
            values["members"] = int(values.get("members", 1))
            if values["pixel_scale"] is not None:
                values["pixel_scale"] = float(values["pixel_scale"])
        except (TypeError, ValueError) as exc:
            raise UserError(f"{source}: malformed field: {exc}") from None
        if values["members"] < 1:
            raise UserError(f"{source}: members must be at least 1")
        _check_components(values, source)
        for name in ("normalisation", "encoder_options", "imbalance", "selection", "metrics"):
            if name in values and not isinstance(values[name], dict):
                raise UserError(f"{source}: field {name} must be an object")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, source: str = "model card") -> ModelCard:
        """Parse model.json text.

        Raises:
            UserError: If the text is not JSON or not a valid card.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a JSON object")
        return cls.from_dict(data, source)

    def replace(self, **changes: Any) -> ModelCard:
        """A copy with some fields changed (unknown fields raise TypeError)."""
        if "bands" in changes:
            changes["bands"] = tuple(changes["bands"])
        return dataclasses.replace(self, **changes)


def _is_required(spec: dataclasses.Field[Any]) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def _check_components(values: Mapping[str, Any], source: str) -> None:
    """A mixed ensemble lists one well-formed component per member; no other card does.

    Raises:
        UserError: Naming the card and what is wrong.
    """
    components = values.get("components", [])
    mixed = values["encoder"] == MIXED_ENCODER
    if not isinstance(components, list) or mixed != bool(components):
        raise UserError(
            f"{source}: field components must list the members exactly when encoder is "
            f"{MIXED_ENCODER!r}"
        )
    if mixed and len(components) != values["members"]:
        raise UserError(f"{source}: {len(components)} components for {values['members']} members")
    for entry in components:
        if not isinstance(entry, dict) or set(entry) != set(COMPONENT_KEYS):
            raise UserError(f"{source}: each component needs exactly {', '.join(COMPONENT_KEYS)}")
        if not isinstance(entry["members"], int) or entry["members"] < 1:
            raise UserError(f"{source}: a component's members must be at least 1")
