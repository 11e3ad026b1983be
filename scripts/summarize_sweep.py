"""Summarize a Hydra multirun: one row per run and mean ± std over seeds per setting.

    wsol-train -m method=cam,acol,has,adl,cutmix seed=0,1,2 run_name=methods
    python scripts/summarize_sweep.py logs/train/multiruns/methods

Reads every job's ``.hydra/overrides.yaml`` and ``metrics.json`` under MULTIRUN_DIR and writes
``MULTIRUN_DIR/summary.csv`` (one row per run: the overrides that vary, the optimized
validation metric, the test metrics, the winner) and ``MULTIRUN_DIR/summary.md`` (the same
table, then mean ± sample std over ``--seed-key`` grouped by the other varying overrides).
The winner is the run (and the setting) with the best validation metric: the one a sweep
optimizes (the runs' ``optimized_metric`` unless ``--metric`` says otherwise); test numbers
never choose. ``--analyses`` adds part/whole coverage and each method-declared extra map,
evaluated from each run's last checkpoint (``wsol.analysis.run_analyses``).

``--published RUN_DIR...`` compares runs of the benchmark's experiment configs with the table
they reproduce instead (``wsol.analysis.published``): one row per run with setup, published,
measured and difference, printed and written to ``published.md`` in the first directory (or
``--output``):

    python scripts/summarize_sweep.py --published logs/train/runs/cub_vgg16_cam logs/train/multiruns
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

from wsol.analysis.published import compare_run, comparison_markdown, find_runs
from wsol.analysis.run_analyses import analyse_run
from wsol.analysis.summary import markdown_table
from wsol.analysis.sweep import TEST_METRICS, common_overrides, group_rows, read_sweep, run_rows

DEFAULT_METRIC = "val/maxboxaccv2"
#: Analysis columns added by --analyses (coverages are fractions; shown in percent).
ANALYSIS_COLUMNS = ("map/object_coverage", "map/part_coverage")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "multirun_dir",
        type=Path,
        nargs="+",
        help="the sweep directory (hydra.sweep.dir); with --published: run or sweep directories",
    )
    parser.add_argument(
        "--published",
        action="store_true",
        help="compare each run with the published number its config names (setup, published, "
        "measured, difference)",
    )
    parser.add_argument("--output", type=Path, help="--published: the Markdown file written")
    parser.add_argument(
        "--metric",
        help="validation metric that picks the winner "
        "(default: the runs' optimized_metric, else val/maxboxaccv2)",
    )
    parser.add_argument("--mode", choices=("max", "min"), default="max")
    parser.add_argument(
        "--columns",
        nargs="+",
        default=list(TEST_METRICS),
        help="metrics.json keys shown after the validation metric",
    )
    parser.add_argument("--seed-key", default="seed", help="override averaged over")
    parser.add_argument(
        "--analyses",
        action="store_true",
        help="also evaluate each run's last checkpoint: object/part coverage "
        "and the methods' extra maps (MaxBoxAccV2 of each)",
    )
    parser.add_argument("--split", default="test", help="split of --analyses")
    return parser.parse_args(argv)


def _cell(value) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def add_analyses(runs, split: str) -> list[str]:
    """Merge each finished run's analyses into its metrics; returns the columns to show."""
    extra: list[str] = []
    for run in runs:
        if not run.finished:
            continue
        print(f"analysing {run.directory}", file=sys.stderr)
        for key, value in analyse_run(run.directory, split).items():
            scale = 100.0 if key.endswith("_coverage") else 1.0
            run.metrics[key] = value * scale
            if key.endswith("/maxboxaccv2") and not key.startswith("map/") and key not in extra:
                extra.append(key)
    return [*ANALYSIS_COLUMNS, *extra]


def compare_published(directories: list[Path], output: Path | None) -> int:
    """Print and write the published-vs-measured table of every run under ``directories``."""
    rows = [compare_run(run) for run in find_runs(directories)]
    text = "# Measured against published\n\n" + comparison_markdown(rows) + "\n"
    path = output or directories[0] / "published.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.published:
        return compare_published(args.multirun_dir, args.output)
    if len(args.multirun_dir) != 1:
        raise SystemExit("summarize_sweep.py: give one multirun directory (or --published)")
    args.multirun_dir = args.multirun_dir[0]
    runs = read_sweep(args.multirun_dir)
    declared = {run.optimized_metric for run in runs if run.optimized_metric}
    metric = args.metric or (declared.pop() if len(declared) == 1 else DEFAULT_METRIC)
    columns = tuple(args.columns)
    if args.analyses:
        columns += tuple(add_analyses(runs, args.split))
    header, rows = run_rows(runs, metric, columns, args.mode)
    csv_path = args.multirun_dir / "summary.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    group_header, groups = group_rows(runs, metric, columns, args.seed_key, args.mode)
    common = " ".join(f"{k}={v}" for k, v in common_overrides(runs).items()) or "none"
    failed = [run.job for run in runs if not run.finished]
    lines = [
        f"# Sweep summary: {args.multirun_dir}",
        "",
        f"{len(runs)} runs ({len(failed)} unfinished{': ' + ', '.join(failed) if failed else ''});"
        f" winner (*) by {args.mode} `{metric}`; overrides common to all runs: `{common}`.",
        "",
        "## Runs",
        "",
        markdown_table(header, [[_cell(c) for c in row] for row in rows]),
        "",
        f"## Mean ± std over `{args.seed_key}`",
        "",
        markdown_table(group_header, groups),
        "",
    ]
    md_path = args.multirun_dir / "summary.md"
    md_path.write_text("\n".join(lines), encoding="utf-8")
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {csv_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
