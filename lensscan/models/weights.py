"""Weights on disk: ``NAME/model.safetensors`` (no pickle) beside ``NAME/model.json`` (the card).

The card records the SHA-256 of the weights file; loading recomputes it and refuses a
mismatch. A model is named by a path to its folder, or by a bare name looked up, in order,
in ``$LENSSCAN_WEIGHTS``, ``./weights`` and the shipped models (:data:`PACKAGE_WEIGHTS`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lensscan.atomic import atomic_output
from lensscan.errors import SettingError, UserError
from lensscan.models.card import ModelCard
from lensscan.models.finder import LensFinder
from lensscan.models.network import build_model_network
from lensscan.models.registry import encoder_spec
from lensscan.provenance import sha256_file

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"
WEIGHTS_ENV = "LENSSCAN_WEIGHTS"

#: The model ``load_model(None)`` (and ``lensscan scan`` without --model) uses.
DEFAULT_MODEL = "hsc-gri-mixed-v1"
DEFAULT_ALIAS = "default"
"""What names :data:`DEFAULT_MODEL` wherever a model is named."""


def shipped_weights_folder() -> Path:
    """The folder of the models shipped with lensscan.

    A wheel carries the checkout's top-level ``weights/`` as ``lensscan/_weights`` (see
    pyproject.toml); an editable install or a source checkout has only ``weights/`` itself.
    """
    package = Path(__file__).resolve().parents[1]
    in_wheel = package / "_weights"
    return in_wheel if in_wheel.is_dir() else package.parent / "weights"


#: The folder of the shipped models, searched last (see :func:`shipped_weights_folder`).
PACKAGE_WEIGHTS = shipped_weights_folder()


def weights_search_path() -> list[Path]:
    """Folders searched for a model given by bare name, in order."""
    folders = []
    if os.environ.get(WEIGHTS_ENV):
        folders.append(Path(os.environ[WEIGHTS_ENV]))
    folders.append(Path.cwd() / "weights")
    folders.append(PACKAGE_WEIGHTS)
    unique: list[Path] = []
    for folder in folders:
        if folder.resolve() not in [u.resolve() for u in unique]:
            unique.append(folder)
    return unique


def resolve_model_path(name_or_path: str | os.PathLike[str] | None) -> Path:
    """The folder holding a model's files.

    Args:
        name_or_path: A path to a weights folder, a bare model name, or None or
            ``"default"`` for :data:`DEFAULT_MODEL`.

    Raises:
        UserError: If no folder with a model.json is found.
    """
    # "default" names the shipped default wherever a model is named (scan, evaluate,
    # init_model), unless a folder of that name is meant.
    alias = name_or_path is not None and str(name_or_path) == DEFAULT_ALIAS
    if alias and not (Path(DEFAULT_ALIAS) / CARD_FILE).is_file():
        name_or_path = None
    name = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    candidate = Path(name)
    if (candidate / CARD_FILE).is_file():
        return candidate
    looks_like_path = os.sep in name or name.startswith(".") or candidate.exists()
    if looks_like_path:
        problem = "no model.json in it" if candidate.is_dir() else "no such folder"
        raise UserError(f"model {name}: {problem}")
    for folder in weights_search_path():
        if (folder / name / CARD_FILE).is_file():
            return folder / name
    searched = ", ".join(str(f) for f in weights_search_path())
    if name_or_path is None:
        raise UserError(
            f"no default model {DEFAULT_MODEL!r} found (searched {searched}); train one with "
            f"`lensscan train ... --out weights/{DEFAULT_MODEL}`, fetch one with "
            f"`lensscan download {DEFAULT_MODEL}`, or name another model"
        )
    raise UserError(f"model {name!r}: not found (searched {searched})")


def save_model(finder: LensFinder, out_dir: str | os.PathLike[str], **card_updates: Any) -> Path:
    """Write a model folder atomically (an existing folder is replaced).

    Args:
        finder: The model to save.
        out_dir: The folder to write (``weights/NAME``); its name becomes the card's name
            unless ``name`` is among the updates.
        **card_updates: Card fields to change before saving (metrics, provenance ...).

    Returns:
        The folder written.
    """
    out = Path(out_dir)
    updates = {"name": out.name, **card_updates}
    with atomic_output(out) as tmp:
        tmp.mkdir(parents=True)
        write_model_files(tmp, finder.network, finder.card.replace(**updates))
    finder.card = ModelCard.from_json((out / CARD_FILE).read_text(), str(out / CARD_FILE))
    return out


def write_model_files(folder: Path, network: torch.nn.Module, card: ModelCard) -> ModelCard:
    """Write model.safetensors and model.json into an existing folder.

    Returns:
        The card as written, with the weights' SHA-256.
    """
    state = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
    weights = folder / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": "pt", "card": CARD_FILE})
    card = card.replace(weights_sha256=sha256_file(weights))
    (folder / CARD_FILE).write_text(card.to_json())
    return card


def read_card(folder: str | os.PathLike[str]) -> ModelCard:
    """Read and validate the card of a model folder.

    Raises:
        UserError: If model.json is missing or invalid.
    """
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise UserError(f"model {folder}: no {CARD_FILE}")
    return ModelCard.from_json(path.read_text(), str(path))


def load_state(path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    """Read a safetensors file after checking its SHA-256.

    Raises:
        UserError: If the file is missing, unreadable or its hash differs.
    """
    if not path.is_file():
        raise UserError(f"model weights {path}: no such file")
    actual = sha256_file(path)
    if expected_sha256 is None:
        raise UserError(f"model card beside {path}: no weights_sha256 to check the weights against")
    if actual != expected_sha256:
        raise UserError(
            f"model weights {path}: sha256 {actual[:16]}... does not match the card's "
            f"{expected_sha256[:16]}... (corrupt or modified file; re-train or re-download it)"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"model weights {path}: unreadable safetensors file ({exc})") from None


def load_model(
    name_or_path: str | os.PathLike[str] | None = None, device: str | torch.device | None = None
) -> LensFinder:
    """Load a model folder as a :class:`LensFinder`, verifying its card and weights.

    Args:
        name_or_path: A path to a weights folder, a name looked up in
            :func:`weights_search_path`, or None for :data:`DEFAULT_MODEL`.
        device: Where to run; None picks CUDA, MPS or CPU.

    Raises:
        UserError: If the model is not found, its card is invalid, the weights' SHA-256
            differs from the card's, or the weights do not fit the card's network.
    """
    folder = resolve_model_path(name_or_path)
    card = read_card(folder)
    encoders = [part["encoder"] for part in card.components] or [card.encoder]
    for encoder in encoders:
        try:
            encoder_spec(encoder)
        except SettingError as exc:
            # The card, not a setting, named the encoder.
            raise UserError(
                f"model card {folder / CARD_FILE}: encoder {exc.value!r}: {exc.problem}"
            ) from None
    state = load_state(folder / WEIGHTS_FILE, card.weights_sha256)
    network = build_model_network(
        card.encoder, len(card.bands), card.encoder_options, card.members, card.components
    )
    load_network_state(network, state, f"model weights {folder / WEIGHTS_FILE}")
    return LensFinder(network, card, device)


def load_network_state(
    network: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> None:
    """Load a state dict strictly, turning a mismatch into a one-line UserError."""
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise UserError(f"{source}: weights do not fit the card's network ({detail})") from None


def init_from_checkpoint(module: torch.nn.Module, path: str | os.PathLike[str]) -> list[str]:
    """Initialise a module from a local safetensors checkpoint (e.g. timm weights).

    Tensors are matched by name and shape; the rest (a classifier, a first convolution
    with another number of bands) keep their fresh initialisation. Keys prefixed with
    ``encoder.`` (a lensscan model.safetensors) are matched too.

    Args:
        module: The encoder to initialise.
        path: The ``.safetensors`` file.

    Returns:
        Names of the tensors loaded.

    Raises:
        UserError: If the file cannot be read or no tensor matches.
    """
    file = Path(path)
    if not file.is_file():
        raise SettingError("init_checkpoint", file, "no such file")
    try:
        checkpoint = load_file(str(file))
    except (SafetensorError, OSError) as exc:
        raise SettingError("init_checkpoint", file, f"not a safetensors file ({exc})") from None
    own = module.state_dict()
    matched = {}
    for key, value in checkpoint.items():
        name = key.removeprefix("encoder.")
        if name in own and own[name].shape == value.shape:
            matched[name] = value
    if not matched:
        raise SettingError("init_checkpoint", file, "no tensor matches the encoder's names/shapes")
    module.load_state_dict(matched, strict=False)
    return sorted(matched)
