"""Ensembles: several trained models saved as one model that averages their logits.

``lensscan models ensemble A B C --out weights/NAME`` loads the members, checks that they
take the same input the same way (bands, cutout size, pixel scale, normalisation), and
writes one model folder: an :class:`~lensscan.models.network.EnsembleNet` whose state holds
every member (``members.<k>.*``) and whose card says ``members: N`` and lists each member's
name, method, weights SHA-256, training record and metrics. Members of one encoder make an
ensemble of that encoder. Members that differ in encoder (or that are ensembles
themselves) make a *mixed* ensemble: its card's ``encoder`` is ``mixed`` and its
``components`` give each member's encoder, options and size, so that an ensemble member's
mean logit counts once beside a single network's. Ensembles of different encoders fail
differently, which is what averaging needs. Scanning, evaluation, download and the
manifest treat either like any other model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lensscan.errors import UserError
from lensscan.models.card import MIXED_ENCODER, ModelCard
from lensscan.models.finder import LensFinder
from lensscan.models.network import EnsembleNet
from lensscan.models.weights import load_model, resolve_model_path, save_model
from lensscan.provenance import provenance

#: Card fields every member must share: they decide what the network sees.
SHARED_FIELDS = (
    "bands",
    "input_size",
    "pixel_scale",
    "normalisation",
)

#: Card fields that decide the network's architecture; members that differ in one of them
#: (or that are ensembles) make a mixed ensemble.
ARCHITECTURE_FIELDS = ("encoder", "encoder_options")


def _is_uniform(members: Sequence[LensFinder]) -> bool:
    """Whether the members are single networks of one architecture (a plain ensemble)."""
    first = members[0].card
    return all(
        finder.card.members == 1
        and all(getattr(finder.card, name) == getattr(first, name) for name in ARCHITECTURE_FIELDS)
        for finder in members
    )


def _check_members(members: Sequence[LensFinder], sources: Sequence[str]) -> None:
    """Refuse mixed members and members that would see their input differently."""
    first = members[0].card
    for finder, source in zip(members, sources, strict=True):
        if finder.card.is_mixed:
            raise UserError(
                f"model {source}: is itself an ensemble of different encoders; list its "
                "members instead"
            )
        for name in SHARED_FIELDS:
            if getattr(finder.card, name) != getattr(first, name):
                raise UserError(
                    f"model {source}: {name} {getattr(finder.card, name)!r} differs from "
                    f"{getattr(first, name)!r} of {sources[0]} (members must share it)"
                )


def _method_summary(members: Sequence[LensFinder]) -> str:
    methods = [finder.card.method for finder in members]
    unique = list(dict.fromkeys(methods))
    return "ensemble: " + ", ".join(f"{m} x{methods.count(m)}" for m in unique)


def _component(card: ModelCard) -> dict[str, Any]:
    """A member's entry in a mixed ensemble's ``components``."""
    return {
        "encoder": card.encoder,
        "encoder_options": dict(card.encoder_options),
        "members": card.members,
    }


def _member_record(finder: LensFinder, folder: Path) -> dict[str, Any]:
    card = finder.card
    return {
        "name": card.name,
        "path": str(folder),
        "method": card.method,
        "weights_sha256": card.weights_sha256,
        "selection": card.selection,
        "metrics": card.metrics.get("selected", {}),
        "training": card.training,
    }


def make_ensemble(
    sources: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]
) -> LensFinder:
    """Combine trained models into one ensemble model folder.

    Args:
        sources: Model names or weights folders (at least two, none a mixed ensemble).
        out: The weights folder to write (``weights/NAME``); replaced if it exists.

    Returns:
        The saved ensemble, on the CPU, with the card as written.

    Raises:
        UserError: For fewer than two members, a missing or invalid member, a member that
            is a mixed ensemble, or members that differ in a :data:`SHARED_FIELDS` field.
    """
    labels = [str(source) for source in sources]
    if len(labels) < 2:
        raise UserError("models ensemble: give at least two models")
    if len(set(labels)) != len(labels):
        raise UserError("models ensemble: a model is given twice")
    folders = [resolve_model_path(source) for source in labels]
    members = [load_model(folder, device="cpu") for folder in folders]
    _check_members(members, labels)
    first = members[0].card
    uniform = _is_uniform(members)
    card = first.replace(
        encoder=first.encoder if uniform else MIXED_ENCODER,
        encoder_options=first.encoder_options if uniform else {},
        components=[] if uniform else [_component(finder.card) for finder in members],
        method=_method_summary(members),
        members=len(members),
        imbalance={},
        selection={"rule": "each member's own (see training.members)"},
        metrics={},
        training={"members": [_member_record(f, d) for f, d in zip(members, folders, strict=True)]},
        provenance=provenance(
            command="models ensemble",
            settings={"members": labels, "combination": "mean of the members' logits"},
            inputs=[folder / "model.safetensors" for folder in folders],
        ),
        weights_sha256=None,
    )
    ensemble = LensFinder(EnsembleNet([finder.network for finder in members]), card, "cpu")
    save_model(ensemble, out)  # also gives ensemble the card as written (name, sha256)
    return ensemble
