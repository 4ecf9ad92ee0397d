from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from lensscan.adaptation_benchmark.plan import (
    QUICK_PRESET,
    Cell,
    make_plan,
    resolve_benchmark_config,
)
from lensscan.adaptation_benchmark.runner import run_benchmark
from lensscan.adaptation_benchmark.settings import BenchmarkConfig
from lensscan.adaptation_benchmark.table import (
    aggregate,
    build_table,
    render_markdown,
    summarise_cell,
)
from lensscan.cli import app

# A micro benchmark: tiny simulated stores (two non-lenses per lens everywhere, so that
# every split holds lenses), two methods, the small CNN, one epoch.
MICRO = {
    "methods": ("supervised", "dann"),
    "encoders": ("small_cnn",),
    "seeds": 1,
    "epochs": 1,
    "batch_size": 16,
    "n_source": 40,
    "n_pool": 24,
    "n_val": 18,
    "n_test": 30,
    "target_nonlenses_per_lens": 2.0,
    "workers": 1,
    "device": "cpu",
}
MICRO_ARGS = [
    "--methods",
    "supervised,dann",
    "--encoders",
    "small_cnn",
    "--seeds",
    "1",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--n-source",
    "40",
    "--n-pool",
    "24",
    "--n-val",
    "18",
    "--n-test",
    "30",
    "--target-nonlenses-per-lens",
    "2",
    "--workers",
    "1",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    """A finished micro benchmark folder, made once through the command line."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("bench") / "micro"
    result = CliRunner().invoke(app, ["benchmark", "--out", str(out), *MICRO_ARGS])
    assert result.exit_code == 0, result.output
    assert "2 cells run, 0 reused" in result.output
    return out


@pytest.fixture
def micro_copy(micro: Path, tmp_path: Path) -> Path:
    """A private copy of the micro benchmark folder, for tests that add to it."""
    return Path(shutil.copytree(micro, tmp_path / "micro"))


def test_help(runner) -> None:
    result = runner.invoke(app, ["benchmark", "--help"])
    assert result.exit_code == 0
    for option in ("--quick", "--methods", "--encoders", "--seeds", "--leader-seeds", "--data-dir"):
        assert option in result.output


def test_micro_benchmark_writes_table(micro: Path) -> None:
    table = json.loads((micro / "table.json").read_text())
    assert table["format"] == "lensscan-benchmark/1" and table["complete"] is True
    assert table["methods"] == ["supervised", "dann"] and table["encoders"] == ["small_cnn"]
    assert [(c["method"], c["encoder"]) for c in table["cells"]] == [
        ("supervised", "small_cnn"),
        ("dann", "small_cnn"),
    ]
    test = table["test"]
    assert test["items"] == 30 and test["lenses"] == 10 and test["non_lenses"] == 20
    for cell in table["cells"]:
        auroc = cell["metrics"]["auroc"]
        assert auroc["n"] == 1 and len(auroc["values"]) == 1 and auroc["std"] is None
        assert math.isfinite(auroc["mean"]) and 0.0 <= auroc["mean"] <= 1.0
        assert set(cell["metrics"]) >= {"auroc", "tpr0", "tpr10", "tpr_at_fpr_1e-2"}
        assert cell["n_seeds"] == 1 and cell["seeds"] == [0] and cell["epochs"] == [1]
        assert cell["train_seconds"]["total"] > 0
        assert cell["data"]["target_test"] == {"items": 30, "lenses": 10}
        assert cell["data"]["source_train"]["items"] == 36
        assert cell["hardware"] and cell["reference_auroc"] is None
        name = f"{cell['method']}-small_cnn-s0"
        assert (micro / "models" / name / "model.safetensors").is_file()
        result = json.loads((micro / "results" / f"{name}.json").read_text())
        assert result["metrics"]["auroc"] == auroc["values"][0]
    assert table["hardware"]["device"] == "cpu" and table["hardware"]["cpu"]
    assert len(table["data"]["eval"]["sha256"]) == 64
    assert table["data"]["pool"]["splits"]["pool"]["items"] == 24
    assert table["settings"]["epochs"] == 1 and table["provenance"]["lensscan_version"]
    assert table["reference"]["auroc"]["adda"]["ecnn"] == 0.879

    markdown = (micro / "table.md").read_text()
    assert "| method | small_cnn |" in markdown
    assert "| no adaptation (supervised) |" in markdown and "| DANN |" in markdown
    assert "## DeepLense (published)" in markdown and "| ADDA | 0.835 | 0.797" in markdown
    assert "10 lenses, 20 non-lenses" in markdown
    settings = json.loads((micro / "settings.json").read_text())
    assert settings["results_depend_on"]["n_test"] == 30


def test_rerun_skips_done_cells_and_reuses_data(micro_copy: Path) -> None:
    results = sorted((micro_copy / "results").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in results}
    data_stamps = {p: p.stat().st_mtime_ns for p in (micro_copy / "data").iterdir()}
    seen = []
    outcome = run_benchmark(
        BenchmarkConfig(out=str(micro_copy), **MICRO),
        on_cell=lambda cell, result, reused: seen.append((cell.name, reused)),
    )
    assert outcome.ran == () and set(outcome.reused) == {
        "supervised-small_cnn-s0",
        "dann-small_cnn-s0",
    }
    assert seen == [("supervised-small_cnn-s0", True), ("dann-small_cnn-s0", True)]
    assert {p: p.stat().st_mtime_ns for p in results} == stamps
    assert {p: p.stat().st_mtime_ns for p in (micro_copy / "data").iterdir()} == data_stamps
    assert outcome.table["timing"]["cells_reused"] == 2


def test_grid_grows_with_new_methods_and_leader_seeds(micro_copy: Path) -> None:
    config = BenchmarkConfig(
        out=str(micro_copy),
        **{**MICRO, "methods": ("supervised", "dann", "adabn")},
        leader_seeds=2,
        leaders=1,
    )
    outcome = run_benchmark(config)
    # adabn runs; then the best (method, encoder) after the grid gets a second seed.
    assert outcome.ran[0] == "adabn-small_cnn-s0" and len(outcome.ran) == 2
    leader = outcome.ran[1]
    assert leader.endswith("-small_cnn-s1")
    cells = outcome.table["cells"]
    # Seed 0's AUROC decides; ties keep grid order, as max() does over cells in grid order.
    leading = max(cells, key=lambda c: c["metrics"]["auroc"]["values"][0])
    assert leader == f"{leading['method']}-small_cnn-s1"
    assert leading["n_seeds"] == 2 and leading["metrics"]["auroc"]["std"] is not None
    assert [c["n_seeds"] for c in cells].count(1) == 2
    assert set(outcome.reused) == {"supervised-small_cnn-s0", "dann-small_cnn-s0"}


def test_aggregate_by_hand() -> None:
    summary = aggregate([0.8, 0.9, 0.7])
    assert summary["mean"] == pytest.approx(0.8)
    # Sample std (ddof 1): sqrt((0 + 0.01 + 0.01) / 2) = 0.1.
    assert summary["std"] == pytest.approx(0.1)
    assert summary["n"] == 3 and summary["values"] == [0.8, 0.9, 0.7]
    partial = aggregate([0.6, None, math.nan])
    assert partial == {"mean": 0.6, "std": None, "n": 1, "values": [0.6, None, None]}
    assert aggregate([]) == {"mean": None, "std": None, "n": 0, "values": []}


def _result(seed: int, auroc: float | None, diverged: bool = False) -> dict:
    return {
        "cell": {"method": "adda", "encoder": "efficientnet_b2", "seed": seed},
        "metrics": {"auroc": auroc, "tpr0": 0.1 * seed, "tpr10": 0.5, "tpr_at_fpr_1e-2": 0.4},
        "diverged": diverged,
        "train_seconds": 10.0 + seed,
        "training": {"epochs": 3, "batch_size": 64},
        "hardware_label": "NVIDIA H200",
    }


def _store(domain: str, splits: dict[str, tuple[int, int]]) -> dict:
    return {
        "path": f"/data/{domain}.zarr",
        "domain": domain,
        "seed": 0,
        "items": sum(items for items, _ in splits.values()),
        "splits": {
            name: {"items": items, "lenses": lenses, "non_lenses": items - lenses}
            for name, (items, lenses) in splits.items()
        },
    }


DATA = {
    "source": _store("sim", {"train": (90, 30)}),
    "pool": _store("hsc", {"pool": (40, 1)}),
    "eval": _store("hsc", {"val": (101, 1), "test": (202, 2)}),
}


def test_summarise_cell_orders_seeds_and_counts_diverged_runs() -> None:
    results = [_result(2, 0.70), _result(0, 0.90), _result(1, None, diverged=True)]
    cell = summarise_cell("adda", "efficientnet_b2", results, DATA)
    assert cell["seeds"] == [0, 1, 2] and cell["n_seeds"] == 3 and cell["diverged"] == 1
    auroc = cell["metrics"]["auroc"]
    assert auroc["values"] == [0.90, None, 0.70] and auroc["n"] == 2
    assert auroc["mean"] == pytest.approx(0.80)
    assert auroc["std"] == pytest.approx(math.sqrt(0.02))  # (0.1^2 + 0.1^2) / (2 - 1)
    assert cell["metrics"]["tpr0"]["mean"] == pytest.approx(0.1)
    assert cell["train_seconds"] == {"mean": 11.0, "total": 33.0, "values": [10.0, 11.0, 12.0]}
    assert cell["reference_auroc"] == 0.835
    assert cell["data"]["target_test"] == {"items": 202, "lenses": 2}


def test_markdown_puts_published_numbers_beside_matching_encoders() -> None:
    plan = make_plan(BenchmarkConfig(methods=("adda",), encoders=("efficientnet_b2",)))
    results = [_result(0, 0.90), _result(1, 0.80)]
    table = build_table(
        plan,
        results,
        data=DATA,
        hardware={"label": "NVIDIA H200"},
        complete=False,
        timing={"seconds": 20.0, "cells_run": 2, "cells_reused": 0},
        provenance={"lensscan_version": "0", "created_utc": "now"},
    )
    markdown = render_markdown(table)
    assert "| method | efficientnet_b2 | efficientnet_b2 (DeepLense) |" in markdown
    assert "| ADDA | 0.850 ± 0.071 · 0.050 / 0.500 | 0.835 |" in markdown
    assert "Partial table" in markdown
    assert "s0: 0.900, s1: 0.800" in markdown


def test_leader_cells_pick_the_best_pairs() -> None:
    plan = make_plan(
        BenchmarkConfig(
            methods=("supervised", "adda"),
            encoders=("small_cnn", "ecnn"),
            seeds=1,
            leader_seeds=3,
            leaders=2,
        )
    )
    means = {
        ("supervised", "small_cnn"): 0.7,
        ("supervised", "ecnn"): None,
        ("adda", "small_cnn"): 0.9,
        ("adda", "ecnn"): 0.8,
    }
    assert plan.leader_cells(means) == [
        Cell("adda", "small_cnn", 1),
        Cell("adda", "small_cnn", 2),
        Cell("adda", "ecnn", 1),
        Cell("adda", "ecnn", 2),
    ]
    assert len(plan.cells) == 4


def test_quick_preset_and_options() -> None:
    quick = resolve_benchmark_config(True, {"seeds": None, "epochs": 3})
    assert quick.quick and quick.encoders == QUICK_PRESET["encoders"] and quick.epochs == 3
    assert quick.seeds == 1
    full = resolve_benchmark_config(False, {})
    assert full.encoders == ("efficientnet_b2", "resnet34", "densenet121", "ecnn")
    assert (full.n_source, full.n_pool, full.seeds) == (60_000, 40_000, 3)
    specs = make_plan(full).datasets
    assert specs["eval"].request.n == 30_300 and specs["pool"].request.unlabelled
    assert str(make_plan(quick).out) == "reports/benchmark-quick"


def test_survey_scenario_uses_the_simulator_families_and_no_target_labels(tmp_path) -> None:
    from lensscan.adaptation_benchmark.runner import _Context, _train_config

    config = resolve_benchmark_config(
        True, {"scenario": "survey", "init_model": "default", "methods": ("adabn", "dann")}
    )
    plan = make_plan(config)
    domains = {role: spec.request.domain for role, spec in plan.datasets.items()}
    assert domains == {"source": "hsc-train", "pool": "hsc-heldout", "eval": "hsc-heldout"}
    stores = {role: tmp_path / f"{role}.zarr" for role in ("source", "pool", "eval")}
    context = _Context(plan=plan, stores=stores, test=None, hardware={})
    dann = _train_config(Cell("dann", "small_cnn", 0), context, tmp_path / "m")
    assert dann.val is None and dann.selection == "last" and dann.init_model == "default"
    adabn = _train_config(Cell("adabn", "small_cnn", 0), context, tmp_path / "m")
    assert adabn.source is None and adabn.target == str(stores["pool"])
    with pytest.raises(Exception, match=r"^`scenario` 'other': choose one of"):
        make_plan(resolve_benchmark_config(True, {"scenario": "other"}))
    with pytest.raises(Exception, match="only the survey scenario"):
        make_plan(resolve_benchmark_config(True, {"init_model": "default"}))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "supervised,foo"], "--methods 'foo': unknown method; choose one of"),
        (["--encoders", "resnet50"], "--encoders 'resnet50': unknown encoder; choose one of"),
        (["--seeds", "0"], "--seeds 0: must be a whole number of at least 1"),
        (
            ["--n-test", "5", "--target-nonlenses-per-lens", "100"],
            "eval store's 'val' split would hold 0 lenses",
        ),
    ],
)
def test_errors_are_one_line(runner, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "bench"
    result = runner.invoke(app, ["benchmark", "--out", str(out), *MICRO_ARGS, *args])
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
    assert not out.exists()


def test_folder_of_other_settings_is_refused(runner, micro_copy: Path) -> None:
    result = runner.invoke(
        app, ["benchmark", "--out", str(micro_copy), *MICRO_ARGS, "--epochs", "2"]
    )
    assert result.exit_code == 2
    assert "holds a benchmark with other settings (epochs: 1 there, 2 now)" in result.output


def test_data_set_of_other_settings_is_refused(runner, micro: Path, tmp_path: Path) -> None:
    # Same store names (role, size, seed), other lens fraction.
    args = [*MICRO_ARGS, "--target-nonlenses-per-lens", "1"]
    result = runner.invoke(
        app,
        ["benchmark", "--out", str(tmp_path / "b"), "--data-dir", str(micro / "data"), *args],
    )
    assert result.exit_code == 2
    # Log lines (the stores already checked) come first; the error is the one last line.
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("lensscan: error: --data-dir ") and result.output.count("error") == 1
    assert "made with other settings (lens_fraction: 0.333" in last
