"""``lensscan train``: an encoder and an adaptation method, stores in, weights/NAME out."""

from __future__ import annotations

from pathlib import Path

import typer

from lensscan.errors import UserError


def _parse_options(
    pairs: list[str] | None, option: str = "--option", text: bool = False
) -> dict[str, float | str] | None:
    """``KEY=VALUE`` pairs as a dict of numbers (or, with ``text``, of text where not one)."""
    if not pairs:
        return None
    options: dict[str, float | str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{option} {pair!r}: expected KEY=VALUE, e.g. --option tau=0.9")
        try:
            options[key.strip()] = float(value)
        except ValueError:
            if not text:
                raise UserError(f"{option} {pair!r}: {value!r} is not a number") from None
            options[key.strip()] = value.strip()
    return options


def train(
    source: Path = typer.Option(
        None,
        "--source",
        help="Labelled source-domain cutout store (.zarr); not needed for --init-model with adabn.",
    ),
    target: Path = typer.Option(
        None, "--target", help="Target-domain store: its images are the unlabelled pool."
    ),
    val: Path = typer.Option(
        None, "--val", help="Labelled target-domain store for model selection (AUROC)."
    ),
    val_split: str = typer.Option(
        None,
        "--val-split",
        help="Split of --val to validate on (default: val if present, else all).",
    ),
    source_split: str = typer.Option(
        None,
        "--source-split",
        help="Split of --source to train on (default: train if present, else all).",
    ),
    target_split: str = typer.Option(
        None,
        "--target-split",
        help="Split of --target for the pool (default: all but --val items).",
    ),
    encoder: str = typer.Option(
        None,
        "--encoder",
        help="Encoder: small_cnn (default), resnet_compact, ecnn, ecnn_d8, resnet34, ...",
    ),
    method: str = typer.Option(
        None,
        "--method",
        help="Method: supervised (default), adabn, adda, adamatch, self-ensembling, dann.",
    ),
    init_model: str = typer.Option(
        None,
        "--init-model",
        help="Start from a trained model: a name, a weights folder, or 'default'.",
    ),
    epochs: int = typer.Option(None, "--epochs", help="Passes over the source items (default 10)."),
    out: Path = typer.Option(None, "--out", help="Weights folder to write, e.g. weights/NAME."),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Items per step and domain (default 64)."
    ),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default 1e-3)."),
    seed: int = typer.Option(None, "--seed", help="Seed of the run (default 0)."),
    device: str = typer.Option(
        None, "--device", help="cpu, cuda, cuda:N or mps (default: best available)."
    ),
    max_source: int = typer.Option(None, "--max-source", help="Use at most N source items."),
    restyle: float = typer.Option(
        None,
        "--restyle",
        help="Share of source training items shown as 8-bit display-stretched images "
        "(0-1, default 0).",
    ),
    grades: Path = typer.Option(
        None,
        "--grades",
        help="Grade database of lensscan inspect: consensus lenses and unanimous non-lenses "
        "join the source items.",
    ),
    grade_cutouts: Path = typer.Option(
        None,
        "--grade-cutouts",
        help="Cutout store whose item k is row k of the graded catalog (default: stamps "
        "from the catalog's fields).",
    ),
    grade_share: float = typer.Option(
        None,
        "--grade-share",
        help="Share of the labelled items the graded items are repeated to (default 0.1).",
    ),
    max_target: int = typer.Option(None, "--max-target", help="Use at most N target-pool items."),
    selection: str = typer.Option(
        None, "--selection", help="auto, val_auroc, last or min_target_entropy (default auto)."
    ),
    option: list[str] = typer.Option(
        None, "--option", help="Method setting KEY=VALUE (repeatable), e.g. --option tau=0.9."
    ),
    init_checkpoint: Path = typer.Option(
        None, "--init-checkpoint", help="Safetensors file to initialise the encoder from."
    ),
    normalisation: list[str] = typer.Option(
        None,
        "--normalisation",
        help="Input normalisation setting KEY=VALUE of a model trained from scratch "
        "(repeatable), e.g. --normalisation relative_floor=1e-5 --normalisation "
        "noise=differences.",
    ),
    no_amp: bool = typer.Option(False, "--no-amp", help="Turn off mixed precision on CUDA."),
    config: Path = typer.Option(
        None, "--config", help="TOML file of settings; command-line options override it."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run of --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Train a lens finder (encoder x adaptation method) and write weights/NAME with its card.

    With --init-model, start from a trained model and adapt it to --target; AdaBN then needs
    no --source and takes seconds.
    """
    from lensscan.config import resolve_config
    from lensscan.training.settings import TrainConfig

    overrides = {
        "source": source,
        "target": target,
        "val": val,
        "val_split": val_split,
        "source_split": source_split,
        "target_split": target_split,
        "encoder": encoder,
        "method": method,
        "init_model": init_model,
        "epochs": epochs,
        "out": out,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "device": device,
        "max_source": max_source,
        "restyle": restyle,
        "grades": grades,
        "grade_cutouts": grade_cutouts,
        "grade_share": grade_share,
        "max_target": max_target,
        "selection": selection,
        "method_options": _parse_options(option),
        "init_checkpoint": init_checkpoint,
        "normalisation": _parse_options(normalisation, "--normalisation", text=True),
        "amp": False if no_amp else None,
        "resume": resume or None,
        "overwrite": overwrite or None,
    }
    overrides = {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()}
    settings = resolve_config(TrainConfig, config, overrides, command="train")

    from lensscan.models import load_model
    from lensscan.training import train as run_training

    folder = run_training(settings)
    card = load_model(folder, device="cpu").card
    chosen = card.selection
    parent = card.training.get("parent", {}).get("name")
    if card.members > 1:
        typer.echo(
            f"wrote {folder} ({card.encoder} / {card.method}: the {card.members} members of "
            f"{parent}, each adapted)"
        )
        return
    if not chosen.get("epoch"):
        typer.echo(f"wrote {folder} ({card.encoder} / {card.method} of {parent}; no training)")
        return
    value = f" = {chosen['value']:.4f}" if chosen.get("value") is not None else ""
    typer.echo(
        f"wrote {folder} ({card.encoder} / {card.method}; epoch {chosen['epoch']} selected by "
        f"{chosen['rule']}{value})"
    )
