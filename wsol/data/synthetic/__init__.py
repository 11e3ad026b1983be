"""The embedded synthetic WSOL benchmark: procedurally drawn, deterministic, generated once.

See ``docs/synthetic.md`` for what is drawn and why.
"""

from wsol.data.synthetic.config import SyntheticConfig, class_patterns, decoy_patterns
from wsol.data.synthetic.generate import generate_benchmark, generate_split
from wsol.data.synthetic.parts import read_parts
from wsol.data.synthetic.preparer import DataRoots, SyntheticPreparer, synthetic_roots
from wsol.data.synthetic.scene import Scene, draw_scene

__all__ = [
    "DataRoots",
    "Scene",
    "SyntheticConfig",
    "SyntheticPreparer",
    "class_patterns",
    "decoy_patterns",
    "draw_scene",
    "generate_benchmark",
    "generate_split",
    "read_parts",
    "synthetic_roots",
]
