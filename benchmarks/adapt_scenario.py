"""The scenario users face: a shipped model, a survey's unlabelled pool, a labelled test.

Rows (each judged on the labelled test store, never on the pool's labels):

* ``no adaptation``: the parent model as shipped;
* ``AdaBN``: BatchNorm statistics re-estimated on the pool
  (``lensscan train --init-model MODEL --target POOL --method adabn``);
* ``DANN``, ``AdaMatch`` (with ``--source STORE``, the parent's labelled training family):
  the parent fine-tuned with that label-free method, source items labelled and the pool as
  target (``lensscan train --init-model MODEL --source STORE --target POOL --method dann``,
  ``--max-source``, one epoch at the fine-tuning learning rate);
* ``injection (adapt)``: ``lensscan adapt --pool POOL`` with its defaults (arcs injected
  into the pool's galaxies, rehearsal, safety rule), the model it keeps;
* ``injection + grades``, with ``--grade-top N``: the pool catalog that adapt wrote is
  "graded" by revealing the true labels of its top N candidates (as a person grading them
  would: grade 3 for a lens, 0 for a non-lens, stored in a real ``lensscan inspect``
  grade database), then ``lensscan adapt --grades DB --cutouts POOL`` again from the
  parent; the injected and rehearsal stores are reused from the first run.

The pool must hold the true labels in ``params/true_label`` (``lensscan simulate
--unlabelled``); they are read only to simulate the grading. Each seed runs adapt with
that seed. The last line printed is one JSON object with every row's AUROC, TPR0 and
TPR10 (95% bootstrap intervals) and the wall time of each run; ``--out`` also writes it.

Usage::

    lensscan simulate --domain hsc-heldout --n 6000 --unlabelled --lens-fraction 0.01 \\
        --seed 11 --out pool.zarr
    lensscan simulate --domain hsc-heldout --n 4200 --lens-fraction 0.047619 \\
        --splits test=1 --seed 12 --out test.zarr
    python benchmarks/adapt_scenario.py pool.zarr test.zarr --work /tmp/adapt-bench \\
        --seeds 0 --grade-top 200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: Label-free rows run with ``--source``: row name -> ``lensscan train --method``.
LABEL_FREE_ROWS = {"DANN": "dann", "AdaMatch": "adamatch"}


def run(*args: str) -> float:
    """Run one lensscan command, failing loudly; its wall time in seconds."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "lensscan", *args], check=True)
    return time.monotonic() - start


def evaluate(model: Path | str, test: Path, report: Path, bootstrap: int) -> dict[str, object]:
    """AUROC, TPR0 and TPR10 with 95% intervals of one model on the test store."""
    if not (report / "report.json").is_file():
        run("evaluate", "--model", str(model), "--data", str(test), "--split", "test",
            "--report-dir", str(report), "--overwrite", "--bootstrap", str(bootstrap))  # fmt: skip
    entry = next(iter(json.loads((report / "report.json").read_text())["models"].values()))
    return {name: round(float(entry[name]), 4) for name in ("auroc", "tpr0", "tpr10")} | {
        f"{name}_ci95": entry["ci95"][name] for name in ("auroc", "tpr0", "tpr10")
    }


def simulated_grades(catalog: Path, pool: Path, top: int, db_path: Path) -> dict[str, int]:
    """Grade the catalog's top candidates by their true labels, in a grade database."""
    from lensscan.data.store import CutoutStore
    from lensscan.inspect.candidates import read_candidate_catalog
    from lensscan.inspect.session import open_bound_db

    truth = CutoutStore.open(pool).params()["true_label"]
    graded = read_candidate_catalog(catalog)
    rows = graded.order[:top]
    with open_bound_db(graded, db_path, create=True) as db:
        for row in rows:
            # Row k of adapt's pool catalog is pool item k (its source_index).
            db.record_grade("oracle", int(row), 3 if truth[int(row)] == 1 else 0)
    lenses = int(sum(truth[int(row)] == 1 for row in rows))
    return {"graded": len(rows), "lenses": lenses, "pool_lenses": int((truth == 1).sum())}


def kept_figures(
    record: dict, parent_row: dict, folder: Path, args: argparse.Namespace, report: Path
) -> dict[str, object]:
    """The test figures of the model an adapt run kept (the parent's, when it kept it)."""
    if record["decision"]["kept"] == "parent":
        return dict(parent_row)
    return evaluate(folder, args.test, report, args.bootstrap)


def parent_catalog(model: str, pool: Path, out: Path) -> Path:
    """The pool ranked by the parent (a first scan's catalog, before any adaptation)."""
    from astropy.table import Table

    from lensscan.data.store import CutoutStore
    from lensscan.models import load_model
    from lensscan.training.parent import parent_folder

    if out.is_file():
        return out
    finder = load_model(parent_folder(model), device="cpu")
    store = CutoutStore.open(pool)
    scores = np.concatenate(
        [finder.score(store.read_images(slice(k, k + 1024))) for k in range(0, len(store), 1024)]
    )
    n = len(scores)
    table = Table(
        {
            "id": np.arange(n),
            "ra": np.full(n, np.nan),
            "dec": np.full(n, np.nan),
            "x": np.full(n, np.nan),
            "y": np.full(n, np.nan),
            "score": scores,
        }
    )
    table.meta = {"bands": list(finder.bands), "window": finder.input_size}
    table.write(out, format="ascii.ecsv")
    return out


def main() -> None:
    """Run every row for every seed and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", type=Path, help="Unlabelled pool store (true labels in params).")
    parser.add_argument("test", type=Path, help="Labelled test store (split test).")
    parser.add_argument("--model", default="default", help="Parent model (default: shipped).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="adapt seeds.")
    parser.add_argument("--grade-top", type=int, default=0, help="Simulate grading the top N.")
    parser.add_argument(
        "--grade-ranking",
        choices=("parent", "adapted"),
        default="parent",
        help="Whose ranking of the pool is graded: a first scan with the parent (default), "
        "or the pool catalog of the first adapt run.",
    )
    parser.add_argument("--only-grades", action="store_true", help="Skip the adapt row.")
    parser.add_argument("--work", type=Path, default=Path("adapt-bench"), help="Work folder.")
    parser.add_argument("--bootstrap", type=int, default=500, help="Bootstrap replicates.")
    parser.add_argument("--workers", type=int, default=2, help="Simulation processes.")
    parser.add_argument(
        "--adapt-option", action="append", default=[], help="Extra adapt option (repeat)."
    )
    parser.add_argument(
        "--source", type=Path, help="Labelled source store: adds the DANN and AdaMatch rows."
    )
    parser.add_argument(
        "--max-source", type=int, default=9000, help="Source items of those rows (9000)."
    )
    parser.add_argument("--out", type=Path, help="Also write the JSON here.")
    args = parser.parse_args()
    from lensscan.training.parent import parent_folder

    # "default" is an alias of adapt and train; evaluate takes the folder it stands for.
    args.model = str(parent_folder(args.model))
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, object]]] = {}
    seconds: dict[str, float] = {}

    parent_row = evaluate(args.model, args.test, work / "report-parent", args.bootstrap)
    rows["no adaptation"] = [parent_row]
    adabn = work / "adabn"
    if not (adabn / "model.json").is_file():
        seconds["AdaBN"] = run("train", "--init-model", args.model, "--target", str(args.pool),
                               "--method", "adabn", "--out", str(adabn), "--overwrite")  # fmt: skip
    rows["AdaBN"] = [evaluate(adabn, args.test, work / "report-adabn", args.bootstrap)]
    if args.source is not None:
        for name, method in LABEL_FREE_ROWS.items():
            tuned = work / method
            if not (tuned / "model.json").is_file():
                seconds[name] = run("train", "--init-model", args.model, "--source",
                                    str(args.source), "--max-source", str(args.max_source),
                                    "--target", str(args.pool), "--method", method,
                                    "--epochs", "1", "--lr", "2e-4", "--out", str(tuned),
                                    "--overwrite")  # fmt: skip
            rows[name] = [evaluate(tuned, args.test, work / f"report-{method}", args.bootstrap)]

    for seed in args.seeds:
        adapted, adapt_work = work / f"adapt-s{seed}", work / f"adapt-work-s{seed}"
        common = ["--pool", str(args.pool), "--init-model", args.model,
                  "--work", str(adapt_work), "--seed", str(seed),
                  "--workers", str(args.workers), *args.adapt_option]  # fmt: skip
        if not args.only_grades:
            if not (adapted / "model.json").is_file():
                seconds[f"adapt s{seed}"] = run(
                    "adapt", *common, "--out", str(adapted), "--overwrite"
                )
            record = json.loads((adapted / "adapt.json").read_text())
            row = kept_figures(record, parent_row, adapted, args, work / f"report-adapt-s{seed}")
            row |= {
                "kept": record["decision"]["kept"],
                "reason": record["decision"]["reason"],
                "figures": record["figures"],
                "steps_s": record["timings_s"],
            }
            rows.setdefault("injection (adapt)", []).append(row)
            # The fine-tuned model whatever the safety rule said, to see what the rule did.
            tuned = record["fine_tuning"]["model"]
            row = evaluate(tuned, args.test, work / f"report-tuned-s{seed}", args.bootstrap)
            rows.setdefault("injection, fine-tuned model (before the rule)", []).append(row)
        if args.grade_top:
            db = work / f"grades-s{seed}.sqlite"
            graded = work / f"adapt-graded-s{seed}"
            if not db.exists():
                ranking = (
                    adapted / "pool_candidates.ecsv"
                    if args.grade_ranking == "adapted"
                    else parent_catalog(args.model, args.pool, work / "parent_candidates.ecsv")
                )
                counts = simulated_grades(ranking, args.pool, args.grade_top, db)
                (work / f"grades-s{seed}.json").write_text(json.dumps(counts))
            counts = json.loads((work / f"grades-s{seed}.json").read_text())
            if not (graded / "model.json").is_file():
                seconds[f"adapt+grades s{seed}"] = run(
                    "adapt", *common, "--grades", str(db), "--cutouts", str(args.pool),
                    "--out", str(graded), "--overwrite",
                )  # fmt: skip
            record = json.loads((graded / "adapt.json").read_text())
            row = kept_figures(record, parent_row, graded, args, work / f"report-graded-s{seed}")
            row |= {"kept": record["decision"]["kept"], "grades": counts,
                    "steps_s": record["timings_s"]}  # fmt: skip
            rows.setdefault(f"injection + grades of the top {args.grade_top}", []).append(row)

    # The mean over seeds, and the lowest and highest seed (each row also keeps its own
    # bootstrap interval on the test).
    summary = {
        name: {
            metric: round(float(np.mean([r[metric] for r in entries])), 4)
            for metric in ("auroc", "tpr0", "tpr10")
        }
        | {
            f"{metric}_seeds": [min(r[metric] for r in entries), max(r[metric] for r in entries)]
            for metric in ("auroc", "tpr10")
        }
        for name, entries in rows.items()
    }
    for name, values in summary.items():
        low, high = values["auroc_seeds"]
        print(f"{name:40s} AUROC {values['auroc']:.3f} ({low:.3f}-{high:.3f})  "
              f"TPR0 {values['tpr0']:.3f}  TPR10 {values['tpr10']:.3f}  "
              f"({len(rows[name])} seed(s))")  # fmt: skip
    line = json.dumps({"rows": rows, "mean": summary, "seconds": seconds, "seeds": args.seeds})
    if args.out:
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
