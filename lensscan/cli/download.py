"""``lensscan download``: fetch a published model into the weights folder."""

from __future__ import annotations

from pathlib import Path

import typer


def download(
    name: str = typer.Argument(..., help="Model name, as listed by `lensscan models list`."),
    directory: Path = typer.Option(
        None,
        "--dir",
        help="Weights folder to install into (default $LENSSCAN_WEIGHTS, else ./weights).",
    ),
    base_url: str = typer.Option(
        None,
        "--base-url",
        help="Mirror URL (http(s)://, file://) or folder holding NAME/model.* "
        "(default $LENSSCAN_MIRROR, else the manifest's base URL).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Download even if a verified copy is installed; replace a differing one.",
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds without data before giving up."),
    manifest: Path = typer.Option(
        None, "--manifest", help="Manifest JSON to use instead of the one shipped with lensscan."
    ),
) -> None:
    """Download a published model, checking the SHA-256 of every file."""
    from lensscan.models.download import download_model, format_size
    from lensscan.models.manifest import load_manifest

    result = download_model(
        name,
        directory=directory,
        base_url=base_url,
        force=force,
        manifest=load_manifest(manifest),
        timeout=timeout,
    )
    if result.downloaded:
        typer.echo(
            f"downloaded {name} ({format_size(result.size)}, sha256 verified) from "
            f"{result.base_url} to {result.folder}"
        )
    else:
        typer.echo(
            f"{name} is already installed at {result.folder} (sha256 verified); "
            "pass --force to download it again"
        )
