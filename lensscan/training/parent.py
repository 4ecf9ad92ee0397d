"""Starting a run from a trained model (``init_model``): its weights, encoder and inputs.

Adapting a shipped model to a survey's own images starts from the model, not from
scratch: the new run takes the parent's network, encoder, bands, cutout size and
normalisation, and its card records the parent by name and weights SHA-256.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lensscan.errors import UserError
from lensscan.models.card import ModelCard
from lensscan.models.finder import LensFinder
from lensscan.models.network import LensNet
from lensscan.models.weights import load_model, read_card, resolve_model_path, save_model

#: What ``init_model`` accepts for the shipped default gri model.
DEFAULT_ALIAS = "default"


def parent_folder(name_or_folder: str) -> Path:
    """The weights folder of ``init_model`` (``default``: the shipped default model).

    Raises:
        UserError: If no such model exists.
    """
    try:
        return resolve_model_path(None if name_or_folder == DEFAULT_ALIAS else name_or_folder)
    except UserError as exc:
        raise UserError(f"`init_model` {name_or_folder}: {exc}") from None


def parent_card(name_or_folder: str) -> ModelCard:
    """The card of ``init_model``, read without loading the weights."""
    return read_card(parent_folder(name_or_folder))


@dataclass(frozen=True)
class ParentModel:
    """A loaded ``init_model``.

    Attributes:
        folder: Its weights folder.
        finder: The model (network, card, normalisation).
    """

    folder: Path
    finder: LensFinder

    @property
    def card(self) -> ModelCard:
        """The parent's model card."""
        return self.finder.card

    def network_copy(self, need_single: bool, method: str) -> Any:
        """A trainable copy of the parent's network (on the CPU).

        Args:
            need_single: Whether the method needs one network (encoder plus head); the
                loop adapts an ensemble parent member by member for those.
            method: The method's name, for the error message.

        Raises:
            UserError: If the method needs a single network and the parent is an ensemble.
        """
        network = self.finder.network
        if need_single and not isinstance(network, LensNet):
            raise UserError(
                f"`init_model` {self.folder}: an ensemble of {self.card.members} networks; "
                f"`method` {method} trains one network (use adabn, or a single member)"
            )
        return copy.deepcopy(network).cpu()

    def member_folders(self, folder: Path) -> list[Path]:
        """Write each member of an ensemble parent as a model folder of its own.

        Returns:
            The member folders (reused when they already exist, as on resuming).
        """
        network = self.finder.network
        records = self.card.training.get("members", [])
        folders = []
        for index, member in enumerate(getattr(network, "members", [network])):
            target = folder / f"{self.card.name}-member{index}"
            if not (target / "model.json").is_file():
                record = records[index] if index < len(records) else {}
                part = self.card.member_component(index)
                card = self.card.replace(
                    encoder=part["encoder"],
                    encoder_options=dict(part["encoder_options"]),
                    members=part["members"],
                    components=[],
                    method=record.get("method", self.card.method),
                    training={"member_of": self.describe(), "member_index": index},
                    metrics={},
                )
                save_model(LensFinder(copy.deepcopy(member).cpu(), card, "cpu"), target)
            folders.append(target)
        return folders

    def describe(self) -> dict[str, Any]:
        """Name, folder, weights SHA-256, encoder and method, for the child's card."""
        return {
            "name": self.card.name,
            "path": str(self.folder.resolve()),
            "weights_sha256": self.card.weights_sha256,
            "encoder": self.card.encoder,
            "method": self.card.method,
            "members": self.card.members,
        }


def check_parent_inputs(parent: ParentModel, bands: tuple[str, ...], input_size: int) -> None:
    """Refuse stores whose bands or cutout size differ from the parent model's.

    Raises:
        UserError: Naming both band lists or sizes.
    """
    card = parent.card
    if tuple(bands) != tuple(card.bands):
        raise UserError(
            f"`init_model` {parent.folder}: takes bands {','.join(card.bands)}, "
            f"the stores have {','.join(bands)}"
        )
    if input_size != card.input_size:
        raise UserError(
            f"`init_model` {parent.folder}: takes {card.input_size} px cutouts, "
            f"the stores have {input_size} px"
        )


def load_parent(name_or_folder: str) -> ParentModel:
    """Load ``init_model`` with its weights verified against its card."""
    folder = parent_folder(name_or_folder)
    return ParentModel(folder, load_model(folder, device="cpu"))
