"""The main job end to end on embedded defaults: simulate a field, scan it, evaluate it.

``lensscan demo`` is what a new user runs first: it needs no data and no training. It
simulates a small HSC-like coadd patch with injected lenses (``lensscan simulate-field``),
scans it with a model (the shipped default unless told otherwise; ``lensscan scan``) into a
ranked candidate catalog with a gallery, and evaluates that catalog against the field's
truth (``lensscan evaluate --catalog --truth``). Every step is the real command's code, so
the demo's outputs are the same files the commands write.

Like the HSC lens searches, and exactly as ``lensscan scan field.fits`` does by default
(``--mode detect``), the scan detects the field's galaxies itself, preselects the extended
ones brighter than the magnitude limit, and scores cutouts centred on them: the
simulator's object list is never read, and the lens labels stay in ``truth.ecsv``.

Layout of the demo folder::

    OUT/field/          calexp-HSC-<B>-<tract>-<patch>.fits per band, truth.ecsv,
                        objects.ecsv (the simulator's lists; the scan reads neither)
    OUT/catalog/        <field>.ecsv (ranked candidates) and <field>-gallery/
    OUT/evaluation/     report.md, report.json, matches.ecsv, completeness plots

Each step writes its outputs atomically, and when a step fails the demo folder is removed,
so a failed demo leaves nothing behind. The folder is written in place (not under a
temporary name) so that the provenance of the catalog and report names paths that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lensscan.atomic import check_output_path, remove_path
from lensscan.errors import SettingError, UserError, check_ranges
from lensscan.evaluate.settings import EvaluateConfig
from lensscan.scan.settings import ClusterSettings, OutputSettings, ScanConfig
from lensscan.simulate.fields.request import MIN_FIELD_SIZE, FieldRequest

#: Top candidates shown in the demo gallery.
DEMO_GALLERY = 16

FIELD_DIR = "field"
CATALOG_DIR = "catalog"
EVALUATION_DIR = "evaluation"


@dataclass(frozen=True)
class DemoConfig:
    """Settings of ``lensscan demo`` (simulate a field, scan it, evaluate the catalog).

    Attributes:
        out: The demo folder to write.
        model: Model name or weights folder; None means the default model.
        size: Side of the simulated field in pixels (2048: about 6', 12 lenses).
        seed: Seed of the field (the same seed gives the same field and catalog).
        workers: Local Dask worker processes of the scan (0 runs it in this process).
        device: Where to run the model (None: CUDA, MPS, then CPU).
        overwrite: Replace an existing demo folder.
    """

    out: str = "demo"
    model: str | None = None
    size: int = 2048
    seed: int = 0
    workers: int = 1
    device: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.size < MIN_FIELD_SIZE:
            raise SettingError("size", self.size, f"must be at least {MIN_FIELD_SIZE} pixels")
        check_ranges(
            [("seed", self.seed, self.seed >= 0), ("workers", self.workers, self.workers >= 0)]
        )


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo wrote and found.

    Attributes:
        out: The demo folder.
        field_summary: The field simulation's summary line.
        scan_lines: The scan's summary lines.
        catalog: The ranked candidate catalog.
        gallery: The gallery folder of the top candidates.
        evaluation_dir: The field evaluation's report folder.
        evaluation: The evaluation report (as in report.json).
        table: A rich table of the evaluation's headline numbers.
    """

    out: Path
    field_summary: str
    scan_lines: list[str]
    catalog: Path
    gallery: Path
    evaluation_dir: Path
    evaluation: dict[str, Any]
    table: Any


def _model_bands(model: str | None) -> str:
    """The bands of the model the demo will scan with (the field is simulated in them)."""
    from lensscan.models.weights import read_card, resolve_model_path

    return "".join(read_card(resolve_model_path(model)).bands)


def run_demo(settings: DemoConfig) -> DemoOutcome:
    """Simulate a field, scan it and evaluate the catalog against the truth.

    Args:
        settings: The demo's settings (folder, model, field size and seed, workers,
            device, overwrite).

    Returns:
        What was written, with the evaluation's headline numbers.

    Raises:
        UserError: If the folder exists without ``overwrite``, the model is not found, a
            setting is bad, or a step fails.
    """
    final = check_output_path(settings.out, overwrite=settings.overwrite)
    bands = _model_bands(settings.model)
    request = FieldRequest(size=settings.size, bands=bands, seed=settings.seed)
    remove_path(final)
    final.mkdir(parents=True)
    try:
        return _run_steps(
            final,
            request,
            model=settings.model,
            workers=settings.workers,
            device=settings.device,
        )
    except BaseException:
        remove_path(final)
        raise


def _run_steps(
    out: Path, request: FieldRequest, *, model: str | None, workers: int, device: str | None
) -> DemoOutcome:
    """Simulate, scan and evaluate into the (new, empty) demo folder ``out``."""
    from lensscan.evaluate.run import run_evaluation
    from lensscan.scan.fieldlist import field_specs
    from lensscan.scan.outputs import side_outputs
    from lensscan.scan.scanner import scan
    from lensscan.simulate.fields.calexp import calexp_name
    from lensscan.simulate.fields.run import simulate_field_patch

    field_dir = out / FIELD_DIR
    field_summary = simulate_field_patch(request, field_dir)
    scan_config = ScanConfig(
        model=model,
        mode="detect",
        device=device,
        output=OutputSettings(out=str(out / CATALOG_DIR), gallery=DEMO_GALLERY),
        cluster=ClusterSettings(workers=workers),
    )
    first_band = field_dir / calexp_name(request.bands[0], request.tract, request.patch)
    report = scan(field_specs([first_band], []), scan_config)
    if report.failed:
        raise UserError(f"demo scan: {report.failed[0].error}")
    catalog = report.results[0].catalog
    assert catalog is not None  # a scanned field always has its catalog
    evaluation = run_evaluation(
        EvaluateConfig(
            catalog=str(catalog),
            truth=str(field_dir / "truth.ecsv"),
            report_dir=str(out / EVALUATION_DIR),
            device=device,
        )
    )
    return DemoOutcome(
        out=out,
        field_summary=field_summary,
        scan_lines=report.lines(),
        catalog=catalog,
        gallery=side_outputs(catalog, scan_config.output)["gallery"],
        evaluation_dir=evaluation.report_dir,
        evaluation=evaluation.report,
        table=evaluation.table,
    )
