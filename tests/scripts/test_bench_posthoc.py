"""scripts/bench_posthoc.py: every wsol explainer is benchmarked, each against its peers, and a
small run prints one row per (explainer, peer) with the parity of the maps.

No timing is asserted (the figures of a tiny run on a shared machine mean nothing).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

import wsol.cams as cams

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_posthoc.py"
TABLE_SCRIPT = ROOT / "scripts" / "bench_posthoc_table.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_posthoc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks the module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_every_exported_explainer_is_benchmarked_against_a_peer(bench):
    explainers = {
        cls
        for cls in (getattr(cams, name) for name in cams.__all__)
        if inspect.isclass(cls) and issubclass(cls, cams.Extractor) and cls is not cams.Extractor
    }
    assert set(bench.WSOL.values()) == explainers
    assert set(bench.EXPLAINERS) == set(bench.WSOL)
    assert all(bench.EXPLAINERS[name] for name in bench.WSOL)


def printed_rows(bench, output: str) -> dict[tuple[str, str], list[str]]:
    return {
        tuple(line.split()[:2]): line.split()
        for line in output.splitlines()
        if line.split()[:1] and line.split()[0] in bench.EXPLAINERS
    }


@pytest.mark.slow
def test_small_run_prints_every_pair_with_parity(bench, capsys):
    """resnet18 at 64 px (layer4 2x2); Score-CAM at 32 px (layer4 1x1: wsol skips the constant
    channels, the peers run one masked pass per channel), its parity then undefined."""
    pytest.importorskip("pytorch_grad_cam")
    pytest.importorskip("torchcam")
    pytest.importorskip("captum")
    small = "--arch resnet18 --batch 2 --heavy-batch 1 --repeats 1 --threads 1 --clock cpu"
    others = ",".join(name for name in bench.EXPLAINERS if name != "scorecam")
    bench.main(f"{small} --size 64 --samples 2 --window 32 --stride 32 --methods {others}".split())
    rows = printed_rows(bench, capsys.readouterr().out)
    bench.main(f"{small} --size 32 --methods scorecam".split())
    score_rows = printed_rows(bench, capsys.readouterr().out)
    expected = {(name, peer) for name, peers in bench.EXPLAINERS.items() for peer in peers}
    assert set(rows) | set(score_rows) == expected
    for row in {**rows, **score_rows}.values():
        assert float(row[3]) > 0 and float(row[4]) > 0
    for (name, peer), row in rows.items():
        if bench.EXPLAINERS[name][peer][1] == bench.SAME:
            # Same definition: the maps agree up to float rounding.
            assert float(row[5]) > 0.999, (name, peer, row)


def test_the_readme_table_has_a_row_per_posthoc_config():
    """scripts/bench_posthoc_table.py runs every configs/method/posthoc*.yaml (and the
    checkpoint's own evaluation)."""
    spec = importlib.util.spec_from_file_location("bench_posthoc_table", TABLE_SCRIPT)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    configs = {path.stem for path in (ROOT / "configs" / "method").glob("posthoc*.yaml")}
    methods = [method for _, method, _ in table.ROWS.values()]
    assert set(methods) - {None} == configs
    assert methods.count(None) == 1 and len(methods) == len(set(methods))
