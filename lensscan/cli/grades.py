"""``lensscan grades``: combine graders' grades; export them; summarise agreement."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from lensscan.cli.help import Group

app = typer.Typer(
    name="grades",
    help="Consensus grades from lensscan inspect: export a graded catalog, summarise.",
    no_args_is_help=True,
    cls=Group,
)


def export(
    db: Path = typer.Argument(..., help="Grade database written by lensscan inspect."),
    fields: list[Path] = typer.Argument(
        None,
        help="FITS field files for --cutouts (default: those the catalog records).",
        show_default=False,
    ),
    catalog: Path = typer.Option(..., "--catalog", help="The catalog that was graded."),
    out: Path = typer.Option(..., "--out", help="Graded catalog to write: .ecsv, .fits or .csv."),
    cutouts: Path = typer.Option(
        None, "--cutouts", help="Also write the graded candidates as a labelled cutout store."
    ),
    from_cutouts: Path = typer.Option(
        None,
        "--from-cutouts",
        help="Cutout store whose item k is catalog row k, to take stamps from instead of FITS.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Write each candidate's mean grade, spread, graders' grades and class (A, B, C, N)."""
    from lensscan.inspect.candidates import open_stamps, read_candidate_catalog
    from lensscan.inspect.export import export_format, export_grades
    from lensscan.inspect.session import open_bound_db

    export_format(out)
    graded = read_candidate_catalog(catalog, option="catalog")
    stamps = None
    if cutouts is not None:
        stamps = open_stamps(graded, fields or [], from_cutouts, cutouts_option="from_cutouts")
    with open_bound_db(graded, db, create=False, option=None) as database:
        result = export_grades(
            graded, database, out, cutouts=cutouts, stamps=stamps, overwrite=overwrite
        )
    for line in result.lines():
        typer.echo(line)


def summary(
    db: Path = typer.Argument(..., help="Grade database written by lensscan inspect."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Print counts per class and per grader, and the agreement between graders."""
    from lensscan.inspect.export import consensus_of
    from lensscan.inspect.grades_db import GradeDB
    from lensscan.inspect.summary import summarize

    with GradeDB.open(db, create=False, option=None) as database:
        report = summarize(consensus_of(database))
        record = database.catalog_record()
    if json_output:
        typer.echo(
            json.dumps({"catalog": record[0] if record else None, **report.to_dict()}, indent=2)
        )
        return
    if record is not None:
        typer.echo(f"{db}: grades of {record[0]}")
    for line in report.lines():
        typer.echo(line)


#: The sub-commands, registered on :data:`app` by :mod:`lensscan.cli`.
COMMANDS = {"export": export, "summary": summary}
