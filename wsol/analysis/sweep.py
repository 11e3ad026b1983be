"""Read a Hydra multirun directory back: each run's overrides, optimized metric and results.

A study (methods x seeds, a hyper-parameter search) is one ``wsol-train -m ...``: every job
writes ``<sweep dir>/<job>/metrics.json`` and Hydra keeps its command-line overrides in
``<job>/.hydra/overrides.yaml``. These functions turn that into one row per run and into
mean ± std over seeds per setting (``scripts/summarize_sweep.py`` writes them as CSV and
Markdown). Nothing here trains or rewrites documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from wsol.analysis.summary import format_mean_std, mean_std

METRICS_FILE = "metrics.json"
#: Test columns of the summary by default (percent, as metrics.json holds them).
TEST_METRICS = ("test/maxboxaccv2", "test/pxap", "test/top1_loc", "test/top1_acc")


@dataclass
class SweepRun:
    """One job of a multirun.

    Attributes:
        job: the job's directory name (Hydra's job number).
        directory: the job's output directory.
        overrides: its command-line overrides, key → value as written.
        metrics: its metrics.json (empty when the job did not finish).
        optimized_metric: the config's ``optimized_metric`` (None when the config has none).
    """

    job: str
    directory: Path
    overrides: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    optimized_metric: str | None = None

    @property
    def finished(self) -> bool:
        return bool(self.metrics)


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read: {error}") from error


def read_run(directory: Path) -> SweepRun:
    """One job directory (it holds ``.hydra/overrides.yaml``; ``metrics.json`` if it finished)."""
    overrides = {}
    for line in _read_yaml(directory / ".hydra" / "overrides.yaml") or []:
        key, sep, value = str(line).partition("=")
        if not sep:
            raise ValueError(f"{directory / '.hydra' / 'overrides.yaml'}: not key=value: {line!r}")
        overrides[key.lstrip("+~")] = value
    config_file = directory / ".hydra" / "config.yaml"
    config = _read_yaml(config_file) if config_file.is_file() else {}
    metrics_file = directory / METRICS_FILE
    metrics = _read_yaml(metrics_file) if metrics_file.is_file() else {}
    return SweepRun(
        job=directory.name,
        directory=directory,
        overrides=overrides,
        metrics={str(k): float(v) for k, v in (metrics or {}).items() if v is not None},
        optimized_metric=(config or {}).get("optimized_metric"),
    )


def read_sweep(multirun_dir: str | Path) -> list[SweepRun]:
    """Every job under ``multirun_dir`` (directories with ``.hydra/overrides.yaml``), by job number.

    Raises:
        ValueError: no job directory there (the message names the directory).
    """
    root = Path(multirun_dir)
    directories = sorted(p.parent.parent for p in root.glob("**/.hydra/overrides.yaml"))
    directories = [d for d in directories if d != root]
    if not directories:
        raise ValueError(f"{root}: no Hydra job directories (<job>/.hydra/overrides.yaml)")
    runs = [read_run(d) for d in directories]
    return sorted(
        runs, key=lambda r: (not r.job.isdigit(), int(r.job) if r.job.isdigit() else 0, r.job)
    )


def varying_keys(runs: list[SweepRun]) -> list[str]:
    """Override keys whose value differs between runs (or some runs lack), first-seen order."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.overrides if k not in keys]
    return [k for k in keys if len({run.overrides.get(k) for run in runs}) > 1]


def common_overrides(runs: list[SweepRun]) -> dict[str, str]:
    """Overrides every run shares, with their value."""
    varying = set(varying_keys(runs))
    return {k: v for k, v in runs[0].overrides.items() if k not in varying}


def best_index(values: list[float], mode: str = "max") -> int | None:
    """Index of the best finite value (first on ties); None when there is none."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    finite = [(v if mode == "max" else -v, -i) for i, v in enumerate(values) if math.isfinite(v)]
    return -max(finite)[1] if finite else None


def run_rows(
    runs: list[SweepRun], metric: str, columns: tuple[str, ...], mode: str = "max"
) -> tuple[list[str], list[list]]:
    """One row per run: job, varying overrides, ``metric``, ``columns``, winner (``*``).

    The winner is the finished run with the best ``metric`` (what the sweep optimized).
    """
    keys = varying_keys(runs)
    header = ["job", *keys, metric, *columns, "winner"]
    scores = [run.metrics.get(metric, math.nan) for run in runs]
    winner = best_index(scores, mode)
    rows = []
    for i, run in enumerate(runs):
        values = [run.metrics.get(name, math.nan) for name in (metric, *columns)]
        rows.append(
            [
                run.job,
                *(run.overrides.get(k, "") for k in keys),
                *values,
                "*" if i == winner else "",
            ]
        )
    return header, rows


def group_rows(
    runs: list[SweepRun],
    metric: str,
    columns: tuple[str, ...],
    seed_key: str = "seed",
    mode: str = "max",
) -> tuple[list[str], list[list[str]]]:
    """Mean ± sample std over seeds of each setting (the varying overrides but ``seed_key``).

    Rows: setting, number of finished runs, ``metric`` and ``columns`` as "mean ± std",
    winner (``*``: the best mean ``metric``).
    """
    keys = [k for k in varying_keys(runs) if k != seed_key]
    groups: dict[tuple, list[SweepRun]] = {}
    for run in runs:
        groups.setdefault(tuple(run.overrides.get(k, "") for k in keys), []).append(run)
    means, rows = [], []
    for setting, members in groups.items():
        done = [run for run in members if run.finished]
        cells = []
        for name in (metric, *columns):
            values = [run.metrics[name] for run in done if name in run.metrics]
            cells.append(format_mean_std(values))
            if name == metric:
                means.append(mean_std(values)[0])
        rows.append([*setting, f"{len(done)}/{len(members)}", *cells, ""])
    winner = best_index(means, mode)
    if winner is not None:
        rows[winner][-1] = "*"
    return [*keys, "runs", metric, *columns, "winner"], rows
