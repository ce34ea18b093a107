"""Minimum-cost assignment (Hungarian method, shortest augmenting paths) in numpy (no ROS import)."""

from __future__ import annotations

import numpy as np


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a minimum-cost matching of a rectangular cost matrix (like scipy's function).

    Every row is matched when rows <= columns, else every column. O(n^2 m) with potentials (Kuhn-Munkres in the
    Jonker-Volgenant shortest-augmenting-path form). Costs must be finite.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {cost.shape}")
    if cost.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    if not np.all(np.isfinite(cost)):
        raise ValueError("cost matrix contains inf or nan")
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    row_of_col = np.zeros(
        m + 1, dtype=np.intp
    )  # 1-based row matched to column j (0 = free); column 0 is virtual
    way = np.zeros(m + 1, dtype=np.intp)
    for i in range(1, n + 1):
        row_of_col[0] = i
        j0 = 0
        min_slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = row_of_col[j0]
            free = ~used
            free[0] = False
            slack = cost[i0 - 1] - u[i0] - v[1:]
            better = free[1:] & (slack < min_slack[1:])
            min_slack[1:][better] = slack[better]
            way[1:][better] = j0
            candidates = np.where(free, min_slack, np.inf)
            j1 = int(np.argmin(candidates))
            delta = candidates[j1]
            u[row_of_col[used]] += delta
            v[used] -= delta
            min_slack[free] -= delta
            j0 = j1
            if row_of_col[j0] == 0:
                break
        while j0 != 0:
            j1 = way[j0]
            row_of_col[j0] = row_of_col[j1]
            j0 = j1
    cols = np.flatnonzero(row_of_col[1:]).astype(np.intp)
    rows = (row_of_col[1:][cols] - 1).astype(np.intp)
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order], cols[order]
