"""Lookup tables of the 8-neighbour ring, for the foreground sweep (`_components`).

A pixel joining the foreground set sees which of its 8 neighbours are already in it: an
8-bit mask. One table word per mask says how many separate runs of set neighbours there
are and where each starts (each run lies in one component, so it needs one root search),
how much the pixel adds to twice the contour area of its component, and how it changes
four times the Euler number of the set (Gray's 2x2 bit-quads).
"""

import numpy as np

from wsol.metrics._compiled import inline_kernel


def _ring_tables() -> tuple[np.ndarray, ...]:
    """Lookup tables over the 8-bit mask of the neighbours already in the set.

    Ring order: 0 up-left, 1 up, 2 up-right, 3 right, 4 down-right, 5 down, 6 down-left,
    7 left. Consecutive ring neighbours touch, so each run of set bits lies in one
    component and needs one `find`.
    """
    n_runs = np.zeros(256, np.int64)
    run_pos = np.zeros((256, 4), np.int64)
    area_inc = np.zeros(256, np.int64)
    euler_inc = np.zeros(256, np.int64)
    # The four 2x2 windows holding the new pixel P, corners (top-left, top-right,
    # bottom-left, bottom-right) given as ring positions, -1 standing for P itself.
    cells = ((0, 1, 7, -1), (1, 2, -1, 3), (-1, 3, 5, 4), (7, -1, 6, 5))

    def quad(c: tuple[int, int, int, int]) -> int:
        # 4 x Euler contribution of a window for 8-connected sets (Gray's bit-quads).
        k = sum(c)
        if k == 1:
            return 1
        if k == 3:
            return -1
        if k == 2 and ((c[0] and c[3]) or (c[1] and c[2])):
            return -2
        return 0

    for m in range(256):
        bits = [(m >> i) & 1 for i in range(8)]
        starts = [i for i in range(8) if bits[i] and not bits[i - 1]]
        if m == 255:
            starts = [0]
        n_runs[m] = len(starts)
        run_pos[m, : len(starts)] = starts
        for cell in cells:
            before = tuple(0 if i < 0 else bits[i] for i in cell)
            after = tuple(1 if i < 0 else bits[i] for i in cell)
            # A window gains area when it reaches 3 or 4 pixels: area2 = 2 Q4 + Q3.
            area_inc[m] += max(0, sum(after) - 2) - max(0, sum(before) - 2)
            euler_inc[m] += quad(after) - quad(before)
    return n_runs, run_pos, area_inc, euler_inc


N_RUNS, RUN_POS, AREA_INC, EULER_INC = _ring_tables()
# All four in one word per mask (one load in the hot loop): bits 0-2 number of runs,
# 3-14 three-bit positions of up to 4 runs, 15-17 area increment (0..4), 18+ the change
# of 4 x Euler number (-12..4: a pixel merges up to 4 components, or closes holes) + 16.
RING = (
    N_RUNS
    | (RUN_POS[:, 0] << 3)
    | (RUN_POS[:, 1] << 6)
    | (RUN_POS[:, 2] << 9)
    | (RUN_POS[:, 3] << 12)
    | (AREA_INC << 15)
    | ((EULER_INC + 16) << 18)
)
assert EULER_INC.min() >= -16 and AREA_INC.max() <= 7


@inline_kernel
def n_runs(word):
    """Number of runs of set neighbours (0: the pixel starts a new component)."""
    return word & 7


@inline_kernel
def run_start(word, j):
    """Ring position (0 up-left, 1 up, ... 7 left) of the first neighbour of run j."""
    return (word >> (3 + 3 * j)) & 7


@inline_kernel
def area_gain(word):
    """What the pixel adds to twice its component's contour area (2 Q4 + Q3)."""
    return (word >> 15) & 7


@inline_kernel
def euler4_change(word):
    """The change of four times the Euler number of the set."""
    return (word >> 18) - 16
