"""``lensscan benchmark``: methods x encoders x seeds, trained and tested on standard sets."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    """Names from repeated and/or comma-separated options; None when none were given."""
    if not values:
        return None
    return tuple(name.strip() for value in values for name in value.split(","))


def benchmark(
    quick: bool = typer.Option(
        False, "--quick", help="Small preset: small_cnn, ~1k images per store, 2 epochs, 1 seed."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Benchmark folder (default reports/benchmark, or reports/benchmark-quick).",
    ),
    methods: list[str] = typer.Option(
        None,
        "--methods",
        help="Methods (rows), comma-separated or repeated "
        "(default supervised,adabn,adda,adamatch,self_ensembling,dann).",
    ),
    encoders: list[str] = typer.Option(
        None,
        "--encoders",
        help="Encoders (columns), comma-separated or repeated "
        "(default efficientnet_b2,resnet34,densenet121,ecnn; quick: small_cnn).",
    ),
    seeds: int = typer.Option(None, "--seeds", help="Seeds of every cell (3; quick: 1)."),
    leader_seeds: int = typer.Option(
        None, "--leader-seeds", help="Seeds of the --leaders best cells by AUROC (0: none)."
    ),
    leaders: int = typer.Option(
        None, "--leaders", help="How many leading cells get --leader-seeds (3)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Training epochs (10; quick: 2)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Items per step (128; quick: 32)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (1e-3)."),
    n_source: int = typer.Option(
        None, "--n-source", help="Source sims, 2 non-lenses per lens (60000; quick: 1000)."
    ),
    n_pool: int = typer.Option(
        None, "--n-pool", help="Unlabelled HSC-like pool (40000; quick: 500)."
    ),
    n_val: int = typer.Option(
        None, "--n-val", help="HSC-like validation items (10100; quick: 260)."
    ),
    n_test: int = typer.Option(None, "--n-test", help="HSC-like test items (20200; quick: 1040)."),
    target_nonlenses_per_lens: float = typer.Option(
        None,
        "--target-nonlenses-per-lens",
        help="Non-lenses per lens of the HSC-like sets (100; quick: 25).",
    ),
    data_seed: int = typer.Option(None, "--data-seed", help="Seed of the data sets (0)."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Folder of the data sets, made once and reused (default OUT/data)."
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Processes simulating the data; torch threads on the CPU (default: all cores).",
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: best)."),
    scenario: str = typer.Option(
        None,
        "--scenario",
        help="deeplense (sim -> hsc, default) or survey (hsc-train -> unlabelled hsc-heldout).",
    ),
    init_model: str = typer.Option(
        None,
        "--init-model",
        help="survey scenario: start every cell from this model (name, folder or 'default').",
    ),
    source_nonlenses_per_lens: float = typer.Option(
        None, "--source-nonlenses-per-lens", help="Non-lenses per lens of the source store (2)."
    ),
) -> None:
    """Domain-adaptation comparison (methods x encoders x seeds) in one of two scenarios."""
    from rich.console import Console

    from lensscan.adaptation_benchmark.plan import resolve_benchmark_config
    from lensscan.adaptation_benchmark.runner import TABLE_MD, run_benchmark

    settings = resolve_benchmark_config(
        quick,
        {
            "out": str(out) if out is not None else None,
            "methods": _names(methods),
            "encoders": _names(encoders),
            "seeds": seeds,
            "leader_seeds": leader_seeds,
            "leaders": leaders,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "n_source": n_source,
            "n_pool": n_pool,
            "n_val": n_val,
            "n_test": n_test,
            "target_nonlenses_per_lens": target_nonlenses_per_lens,
            "data_seed": data_seed,
            "data_dir": str(data_dir) if data_dir is not None else None,
            "workers": workers,
            "device": device,
            "scenario": scenario,
            "init_model": init_model,
            "source_nonlenses_per_lens": source_nonlenses_per_lens,
        },
    )
    outcome = run_benchmark(settings)
    # Off a terminal (logs, pipes) rich would assume 80 columns and squeeze the table.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(outcome.rich_table)
    typer.echo(
        f"{len(outcome.ran)} cells run, {len(outcome.reused)} reused; "
        f"wrote {outcome.out / TABLE_MD} and table.json"
    )
