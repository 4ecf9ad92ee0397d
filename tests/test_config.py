"""Settings files: every value is type-checked against its setting, in one place."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from lensscan.adaptation_benchmark.settings import BenchmarkConfig
from lensscan.cli import app
from lensscan.config import config_to_dict, resolve_config
from lensscan.errors import UserError
from lensscan.evaluate.settings import EvaluateConfig
from lensscan.scan.settings import (
    CandidateSettings,
    ClusterSettings,
    CutoutsConfig,
    DetectionSettings,
    OutputSettings,
    ScanConfig,
)
from lensscan.training.settings import TrainConfig


@pytest.mark.parametrize(
    ("cls", "text", "message"),
    [
        (ScanConfig, 'chunk_size = "1024"\n', "setting chunk_size: '1024' does not fit"),
        (EvaluateConfig, 'bootstrap = "many"\n', "setting bootstrap: 'many' does not fit"),
        (EvaluateConfig, "threshold = true\n", "setting threshold: True does not fit"),
        (ScanConfig, "bands = 3\n", "setting bands: 3 does not fit"),
        (ScanConfig, "bands = [1, 2]\n", r"bands: \[1, 2\] does not fit its type \(tuple\[str"),
        (EvaluateConfig, "models = [1]\n", "setting models: \\[1\\] does not fit"),
        (
            TrainConfig,
            'out = "w"\n[method_options]\ntau = "x"\n',
            r"method_options: .* does not fit its type \(Mapping\[str, float\]\)",
        ),
    ],
)
def test_a_wrong_type_in_a_file_names_the_file_and_setting(tmp_path, cls, text, message) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as raised:
        resolve_config(cls, path)
    assert str(path) in str(raised.value)


def test_valid_files_resolve_with_lists_as_tuples(tmp_path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('chunk_size = 512\nbands = ["g", "r"]\nthreshold = 1\n')
    config = resolve_config(ScanConfig, path)
    assert config.chunk_size == 512 and config.bands == ("g", "r")
    assert config.candidates.threshold == 1
    path.write_text('out = "w"\nsource = "s.zarr"\nlr = 1\n[method_options]\ntau = 0.9\n')
    assert resolve_config(TrainConfig, path).method_options == {"tau": 0.9}


@pytest.mark.parametrize(
    ("command", "text", "setting"),
    [
        (["evaluate", "--data", "."], 'bootstrap = "many"\n', "bootstrap"),
        (["evaluate", "--data", "."], 'threshold = "0.5"\n', "threshold"),
        (["scan", "field.fits"], 'chunk_size = "1024"\n', "chunk_size"),
        (["scan", "field.fits"], "bands = [1, 2]\n", "bands"),
        (["train"], 'out = "w/x"\nepochs = "3"\n', "epochs"),
    ],
)
def test_the_cli_turns_a_wrong_type_into_one_line(
    runner, tmp_path, monkeypatch, command, text, setting
) -> None:
    monkeypatch.chdir(tmp_path)
    fits.writeto(tmp_path / "field.fits", np.zeros((8, 8), np.float32))
    path = tmp_path / "settings.toml"
    path.write_text(text)
    result = runner.invoke(app, [*command, "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert f"--config {path}: setting {setting}:" in result.output
    assert "does not fit its type" in result.output


def test_environment_variables_set_scan_settings_with_their_types() -> None:
    from lensscan.config import resolve_config
    from lensscan.scan.settings import ScanConfig

    environ = {
        "LENSSCAN_SCAN_BATCH_SIZE": "4096",
        "LENSSCAN_SCAN_DEVICE": "cuda:0",
        "LENSSCAN_SCAN_TTA": "true",
        "LENSSCAN_SCAN_DETECT_BANDS": '["g", "r"]',
        "LENSSCAN_WEIGHTS": "/elsewhere",  # another variable of lensscan: not a setting
    }
    config = resolve_config(ScanConfig, None, {"batch_size": 64}, "scan", environ)
    assert config.batch_size == 64  # an option wins
    assert config.device == "cuda:0" and config.tta is True
    assert config.detect.bands == ("g", "r")
    with pytest.raises(UserError, match="LENSSCAN_SCAN_BATCH_SIZE='big'"):
        resolve_config(ScanConfig, None, {}, "scan", {"LENSSCAN_SCAN_BATCH_SIZE": "big"})


def test_a_settings_file_takes_tables_and_settings_by_their_own_names(tmp_path) -> None:
    path = tmp_path / "scan.toml"
    path.write_text(
        'mode = "grid"\nworkers = 0\n'
        '[detect]\nthreshold = 2.5\nbands = ["r", "i"]\n'
        '[cluster]\nkind = "slurm"\njobs = 3\n'
        '[output]\nout = "catalogs/run1"\n'
    )
    config = resolve_config(ScanConfig, path)
    assert config.mode == "grid" and config.cluster.workers == 0
    assert config.detect.threshold == 2.5 and config.detect.bands == ("r", "i")
    assert (config.cluster.kind, config.cluster.jobs) == ("slurm", 3)
    assert config.output.out == "catalogs/run1" and config.detect.min_area == 5
    # A table's settings keep their own names in messages, variables and options.
    path.write_text("[detect]\nthreshold = 0\n")
    with pytest.raises(UserError, match=r"`config` .*: `detect_threshold` 0: out of range"):
        resolve_config(ScanConfig, path)
    environ = {"LENSSCAN_SCAN_DETECT_THRESHOLD": "3", "LENSSCAN_SCAN_CLUSTER": "pbs"}
    config = resolve_config(ScanConfig, None, {"max_mask_fraction": 0.2}, "scan", environ)
    assert (config.detect.threshold, config.cluster.kind) == (3.0, "pbs")
    assert config.max_mask_fraction == 0.2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[detect]\nthresh = 2\n", r"unknown setting\(s\) \[detect\] thresh; valid: .*\[detect\]"),
        ("detect_threshold = 2\n[detect]\nthreshold = 3\n", "setting detect_threshold given twice"),
        ('[cluster]\nworkers = "two"\n', "setting workers: 'two' does not fit its type"),
    ],
)
def test_a_settings_file_table_is_checked_like_its_top_level(tmp_path, text, message) -> None:
    path = tmp_path / "scan.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        resolve_config(ScanConfig, path)


def test_recorded_settings_are_grouped_as_the_file_tables() -> None:
    recorded = config_to_dict(ScanConfig(detect=DetectionSettings(threshold=2.0)))
    assert recorded["detect"]["threshold"] == 2.0 and recorded["cluster"]["workers"] == 1
    assert set(recorded) >= {"mode", "detect", "candidates", "output", "cluster"}


def _refused(make, message: str) -> None:
    """``make()`` raises at once, one line starting with ``message`` (a regular expression)."""
    with pytest.raises(UserError, match=f"^{message}") as raised:
        make()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CandidateSettings(threshold=2), "`threshold` 2: out of range"),
        (lambda: CandidateSettings(threshold=float("nan")), "`threshold` nan: out of range"),
        (lambda: ScanConfig(mode="sliding"), "`mode` sliding: expected one of detect, grid"),
        (lambda: DetectionSettings(threshold=0), "`detect_threshold` 0: out of range"),
        (lambda: DetectionSettings(min_area=0), "`min_area` 0: out of range"),
        (lambda: ScanConfig(chunk_size=0), "`chunk_size` 0: out of range"),
        (lambda: ScanConfig(max_mask_fraction=1.5), "`max_mask_fraction` 1.5: out of range"),
        (lambda: CandidateSettings(min_separation=-1), "`min_separation` -1: out of range"),
        (lambda: CandidateSettings(top=0), "`top` 0: out of range"),
        (lambda: CandidateSettings(duplicate_radius=0), "`duplicate_radius` 0: out of range"),
        (lambda: OutputSettings(gallery=-1), "`gallery` -1: out of range"),
        (lambda: DetectionSettings(color_cut="red"), "`color_cut` red: expected BAND-BAND>VALUE"),
        (lambda: DetectionSettings(color_cut="g-i>1.2.3"), "`color_cut` g-i>1.2.3: expected"),
        (
            lambda: ClusterSettings(kind="kubernetes"),
            "`cluster` kubernetes: expected one of local,",
        ),
        (lambda: ClusterSettings(adapt="10:2"), "`adapt` 10:2: expected MIN:MAX jobs"),
        (lambda: ClusterSettings(adapt="0:0"), "`adapt` 0:0: expected MIN:MAX jobs"),
        (lambda: ClusterSettings(workers=-1), "`workers` -1: must be 0 \\(in process\\) or more"),
        (lambda: ClusterSettings(threads_per_worker=0), "`threads_per_worker` 0: must be at least"),
        (lambda: ClusterSettings(jobs=0), "`jobs` 0: must be at least 1"),
        (
            lambda: ClusterSettings(jobs=2, adapt="1:4"),
            "`jobs`/`adapt`: give one of them, not both",
        ),
        (lambda: ClusterSettings(cores=0), "`cores` 0: must be at least 1"),
        (lambda: ClusterSettings(gpus_per_job=-1), "`gpus_per_job` -1: must be 0 or more"),
        (lambda: ClusterSettings(retries=-1), "`retries` -1: out of range"),
        (lambda: CutoutsConfig(out="c.zarr", chunk_size=0), "`chunk_size` 0: out of range"),
    ],
)
def test_scan_and_cutouts_settings_refuse_a_bad_value_when_made(make, message) -> None:
    _refused(make, message)


def test_scan_and_cutouts_settings_take_what_their_checks_allow() -> None:
    config = ScanConfig(
        mode="grid",
        detect=DetectionSettings(color_cut="g-i<.5"),
        cluster=ClusterSettings(kind="slurm", adapt="0:4"),
    )
    assert config.cluster.adapt_range == (0, 4)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EvaluateConfig(data="d", bootstrap=-1), "`bootstrap` -1: out of range"),
        (lambda: EvaluateConfig(data="d", match_radius=0), "`match_radius` 0: out of range"),
        (lambda: EvaluateConfig(data="d", rescale="log"), "`rescale` 'log': choose one of none,"),
        (lambda: EvaluateConfig(data="d", headline=True), "`headline`: needs `record_as` LABEL"),
        (lambda: EvaluateConfig(data="d", record_as="hsc!"), "`record_as` 'hsc!': use letters"),
        (lambda: EvaluateConfig(), "`data`: give a cutout store or labelled folder"),
        (lambda: EvaluateConfig(catalog="c"), "`catalog` and `truth`: a field evaluation needs"),
        (
            lambda: EvaluateConfig(catalog="c", truth="t", data="d"),
            "`catalog`/`truth` evaluate a field catalog; .*: give one kind",
        ),
        (
            lambda: EvaluateConfig(catalog="c", truth="t", record_as="x"),
            "`record_as`: records cutout metrics in model cards; not for `catalog`",
        ),
    ],
)
def test_evaluate_settings_refuse_a_bad_value_when_made(make, message) -> None:
    _refused(make, message)


def test_evaluate_settings_take_what_their_checks_allow() -> None:
    assert EvaluateConfig(catalog="c", truth="t").data is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TrainConfig(out="w"), "missing `source` \\(or set it in `config`\\)"),
        (lambda: TrainConfig(out="w", source="s", epochs=0), "`epochs` must be at least 1, got 0"),
        (lambda: TrainConfig(out="w", source="s", batch_size=1), "`batch_size` must be at least 2"),
        (lambda: TrainConfig(out="w", source="s", lr=0), "`lr` must be positive, got 0"),
        (lambda: TrainConfig(out="w", source="s", epochs="3"), "`epochs` '3': does not fit its"),
        (lambda: TrainConfig(out="w", source="s", amp=1), "`amp` 1: does not fit its type \\(bool"),
        (
            lambda: TrainConfig(out="w", source="s", method_options=[("tau", 1)]),
            "`method_options` \\[\\('tau', 1\\)\\]: expected a table of KEY = number",
        ),
        (lambda: TrainConfig(out="w", source="s", selection="best"), "`selection` 'best': unknown"),
        (
            lambda: TrainConfig(out="w", source="s", selection="val_auroc"),
            "`selection` val_auroc needs labelled target-validation items \\(`val`\\)",
        ),
        (
            lambda: TrainConfig(out="w", source="s", selection="min_target_entropy"),
            "`selection` min_target_entropy needs a target pool \\(`target`\\)",
        ),
    ],
)
def test_train_settings_refuse_a_bad_value_when_made(make, message) -> None:
    _refused(make, message)


def test_train_settings_take_what_their_checks_allow() -> None:
    assert TrainConfig(out="w", init_model="default", method="adabn").source is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BenchmarkConfig(seeds=0), "`seeds` 0: must be a whole number of at least 1"),
        (lambda: BenchmarkConfig(batch_size=1), "`batch_size` 1: must be a whole number of at"),
        (lambda: BenchmarkConfig(workers=0), "`workers` 0: must be at least 1"),
        (lambda: BenchmarkConfig(lr=0), "`lr` 0: must be positive"),
        (lambda: BenchmarkConfig(scenario="other"), "`scenario` 'other': choose one of deeplense,"),
        (lambda: BenchmarkConfig(init_model="default"), "`init_model`: only the survey scenario"),
        (lambda: BenchmarkConfig(methods=(" ",)), "`methods`: give at least one name"),
        (lambda: BenchmarkConfig(n_test=0), "`n_test` 0: must be a positive number of cutouts"),
        (
            lambda: BenchmarkConfig(target_nonlenses_per_lens=float("inf")),
            "`target_nonlenses_per_lens` inf: must be a positive number",
        ),
    ],
)
def test_benchmark_settings_refuse_a_bad_value_when_made(make, message) -> None:
    _refused(make, message)


def test_benchmark_settings_take_what_their_checks_allow() -> None:
    assert BenchmarkConfig(scenario="survey", init_model="default").init_model == "default"


def test_a_refused_value_names_the_file_or_variable_it_came_from(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("threshold = 2\njobs = 2\n")
    with pytest.raises(UserError) as raised:
        resolve_config(ScanConfig, path)
    assert str(raised.value) == f"`config` {path}: `threshold` 2: out of range"
    environ = {"LENSSCAN_SCAN_THRESHOLD": "2"}
    with pytest.raises(UserError) as raised:
        resolve_config(ScanConfig, None, {}, "scan", environ)
    assert str(raised.value) == "LENSSCAN_SCAN_THRESHOLD='2': `threshold` 2: out of range"
    # An option's value is the option's: the message stays the settings' own.
    with pytest.raises(UserError) as raised:
        resolve_config(ScanConfig, None, {"threshold": 2.0}, "scan", environ)
    assert str(raised.value) == "`threshold` 2.0: out of range"
    # A combination names where each of its settings came from that was not an option.
    environ = {"LENSSCAN_SCAN_ADAPT": "1:4"}
    with pytest.raises(UserError) as raised:
        resolve_config(ScanConfig, path, {"threshold": 0.5}, "scan", environ)
    assert str(raised.value) == (
        f"`config` {path}, LENSSCAN_SCAN_ADAPT='1:4': `jobs`/`adapt`: give one of them, not both"
    )
    with pytest.raises(UserError) as raised:
        resolve_config(ScanConfig, path, {"threshold": 0.5, "adapt": "1:4"})
    assert str(raised.value) == f"`config` {path}: `jobs`/`adapt`: give one of them, not both"


def test_an_option_replaces_a_bad_value_of_the_file_or_environment(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("threshold = 2\n")
    environ = {"LENSSCAN_SCAN_MODE": "sliding"}
    config = resolve_config(ScanConfig, path, {"threshold": 0.9, "mode": "grid"}, "scan", environ)
    assert (config.candidates.threshold, config.mode) == (0.9, "grid")


@pytest.mark.parametrize(
    ("command", "text", "variable", "expected"),
    [
        (
            ["scan", "field.fits"],
            "threshold = 2\n",
            ("LENSSCAN_SCAN_THRESHOLD", "2"),
            "--threshold 2: out of range",
        ),
        (
            ["scan", "field.fits"],
            'mode = "sliding"\n',
            ("LENSSCAN_SCAN_MODE", "sliding"),
            "--mode sliding: expected one of detect, grid",
        ),
        (
            ["cutouts", "field.fits", "--out", "c.zarr"],
            None,  # cutouts takes no settings file
            ("LENSSCAN_CUTOUTS_MIN_AREA", "0"),
            "--min-area 0: out of range",
        ),
        (
            ["evaluate", "--data", "."],
            "bootstrap = -1\n",
            ("LENSSCAN_EVALUATE_BOOTSTRAP", "-1"),
            "--bootstrap -1: out of range",
        ),
        (
            ["evaluate", "--data", "."],
            'rescale = "log"\n',
            ("LENSSCAN_EVALUATE_RESCALE", "log"),
            "--rescale 'log': choose one of none, minmax",
        ),
        (
            ["train", "--out", "w/x", "--source", "s.zarr"],
            "batch_size = 1\n",
            ("LENSSCAN_TRAIN_BATCH_SIZE", "1"),
            "--batch-size must be at least 2 (BatchNorm needs two items)",
        ),
        (
            ["train", "--out", "w/x", "--source", "s.zarr"],
            "lr = 0\n",
            ("LENSSCAN_TRAIN_LR", "0"),
            "--lr must be positive, got 0",
        ),
        (
            ["adapt", "--pool", "pool.zarr", "--out", "w/x"],
            "grade_share = 2\n",
            ("LENSSCAN_ADAPT_GRADE_SHARE", "2"),
            "--grade-share 2: out of range",
        ),
    ],
)
def test_the_cli_names_the_file_or_variable_of_a_refused_value(
    runner, tmp_path, monkeypatch, command, text, variable, expected
) -> None:
    monkeypatch.chdir(tmp_path)
    fits.writeto(tmp_path / "field.fits", np.zeros((8, 8), np.float32))
    if text is not None:
        path = tmp_path / "settings.toml"
        path.write_text(text)
        result = runner.invoke(app, [*command, "--config", str(path)])
        assert result.exit_code == 2, result.output
        assert result.output == f"lensscan: error: --config {path}: {expected}\n"
    name, value = variable
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.output == f"lensscan: error: {name}={value!r}: {expected}\n"
    assert not (tmp_path / "w").exists() and not (tmp_path / "c.zarr").exists()


def test_the_scan_guide_settings_file_resolves(tmp_path) -> None:
    import re

    from conftest import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "guide" / "scan.md").read_text()
    [example] = re.findall(r"```toml\n(.*?)```", guide, flags=re.S)
    path = tmp_path / "scan.toml"
    path.write_text(example)
    config = resolve_config(ScanConfig, path)
    assert config.detect.threshold == 1.5 and config.candidates.threshold == 0.3
    assert config.cluster.kind == "slurm" and config.output.gallery == 50
