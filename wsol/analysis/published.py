"""Measured against published: one row per run of a benchmark setup (``--published`` mode of
``scripts/summarize_sweep.py``).

A run's stored config (``<run>/.hydra/config.yaml``) says what it should reproduce:
``published.metric`` and ``published.value`` (the experiment files of the benchmark's table),
or a ``reference_row`` that replaces them (``method=fsl`` / ``method=center``: the table's FSL
and centre rows, ``values`` by ``published.data_set`` and, where the row differs per backbone,
by ``backbone.name``). ``metrics.json`` gives the measured number. Runs are found under the given
directories (a run directory, or a multirun / runs folder holding many).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from wsol.analysis.summary import markdown_table

CONFIG_FILE = Path(".hydra") / "config.yaml"
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
METRICS_FILE = "metrics.json"


@dataclass
class PublishedRow:
    """One run next to its published number.

    Attributes:
        setup: the experiment and the overrides that change the row (``method=fsl``).
        metric: the ``metrics.json`` key compared (``test/maxboxaccv2``, ``test/pxap``).
        published: the table's number (NaN when the run's config names none).
        measured: the run's number (NaN when it did not finish).
        run: the run directory.
    """

    setup: str
    metric: str
    published: float
    measured: float
    run: Path

    @property
    def difference(self) -> float:
        return self.measured - self.published


def find_runs(paths: list[Path]) -> list[Path]:
    """Run directories (holding ``.hydra/config.yaml``) at or under each path, sorted."""
    found: set[Path] = set()
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"{path}: not a directory")
        if (path / CONFIG_FILE).is_file():
            found.add(path)
        found.update(config.parent.parent for config in path.rglob(str(CONFIG_FILE)))
    if not found:
        listed = ", ".join(map(str, paths))
        raise ValueError(f"no run directory (with {CONFIG_FILE}) under {listed}")
    return sorted(found)


def _load(path: Path) -> dict:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    return (json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)) or {}


def published_number(config: dict) -> tuple[str | None, float]:
    """(name of a replacing reference row or None, published value or NaN) of a run config."""
    published = config.get("published") or {}
    reference = config.get("reference_row")
    if reference:
        values = (reference.get("values") or {}).get(published.get("data_set"))
        if isinstance(values, dict):
            values = values.get((config.get("backbone") or {}).get("name"))
        return reference.get("name"), math.nan if values is None else float(values)
    value = published.get("value")
    return None, math.nan if value is None else float(value)


def setup_name(run: Path, reference: str | None) -> str:
    """``<experiment>`` plus the non-path overrides that change the row, e.g. ``method=fsl``."""
    overrides = [str(line) for line in (_load(run / OVERRIDES_FILE) or [])]
    experiment = next((o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")), "")
    kept = [o for o in overrides if o.startswith(("method=", "seed="))]
    name = " ".join(part for part in (experiment, *kept) if part) or run.name
    return f"{name} ({reference})" if reference else name


def compare_run(run: Path) -> PublishedRow:
    """The row of one run directory."""
    config = _load(run / CONFIG_FILE)
    reference, value = published_number(config)
    metric = (config.get("published") or {}).get("metric") or config.get(
        "optimized_metric", "test/maxboxaccv2"
    ).replace("val/", "test/")
    measured = _load(run / METRICS_FILE).get(metric)
    return PublishedRow(
        setup=setup_name(run, reference),
        metric=metric,
        published=value,
        measured=math.nan if measured is None else float(measured),
        run=run,
    )


def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}"


def comparison_markdown(rows: list[PublishedRow]) -> str:
    """Markdown table: setup, metric, published, measured, difference, run directory."""
    header = ["setup", "metric", "published", "measured", "difference", "run"]
    body = [
        [
            row.setup,
            row.metric,
            _cell(row.published),
            _cell(row.measured),
            "–" if math.isnan(row.difference) else f"{row.difference:+.1f}",
            str(row.run),
        ]
        for row in rows
    ]
    return markdown_table(header, body)
