"""``trajectory``: VLA-R1's trajectory reward from the orientation-sensitive discrete Fréchet distance.

Ye et al., 2025, "VLA-R1" (arXiv 2510.01623); code: GigaAI-research/VLA-R1
``RFT_training/train_utils/robot_bbox_traj_norm.py`` (``_os_discrete_frechet``,
``compute_score``), verified (seeds_table row 26). Points are normalised 2D coordinates clipped
to [0, 1]. With P the reference and Q the prediction:

* the direction at point i is the unit vector of its segment (first / last point: the adjacent
  segment; interior points: the normalised sum of the incoming and outgoing unit vectors);
  its length is the outgoing segment's (the last point: the incoming one);
* cost(i, j) = |P_i - Q_j| + lambda_theta * angle(dir_i, dir_j) + lambda_r * |ln(len_i / len_j)|
  (1e-12 added to both lengths when one is zero; the angle is 0 when a direction is zero);
* OSDFD is the discrete Fréchet recursion over that cost;
* R = 1 - min(1, OSDFD / (sqrt 2 + lambda_theta * pi + lambda_r * ln 10)), in [0, 1];
  lambda_theta = 0.25 and lambda_r = 0.10 as in the paper.

The answer is a JSON list of ``[x, y]`` points in the ``<answer>`` content (else the whole
completion); trajectories of different lengths are compared as they are (no resampling).
"""

from __future__ import annotations

import math

from rewardlab.rewards.base import Malformed, Reward, Sample, reference_of
from rewardlab.rewards.parsing import as_points, structured_answer, structured_reference

Point = tuple[float, float]
_EPS = 1e-12


def _unit(dx: float, dy: float) -> Point:
    n = math.hypot(dx, dy)
    return (0.0, 0.0) if n < _EPS else (dx / n, dy / n)


def _directions(pts: list[Point]) -> list[Point]:
    n = len(pts)
    if n == 1:
        return [(0.0, 0.0)]
    seg = [_unit(pts[i + 1][0] - pts[i][0], pts[i + 1][1] - pts[i][1]) for i in range(n - 1)]
    out = [seg[0]]
    for i in range(1, n - 1):
        s = (seg[i - 1][0] + seg[i][0], seg[i - 1][1] + seg[i][1])
        out.append(_unit(*s) if math.hypot(*s) >= _EPS else seg[i - 1])
    out.append(seg[-1])
    return out


def _lengths(pts: list[Point]) -> list[float]:
    n = len(pts)
    if n == 1:
        return [0.0]
    seg = [math.dist(pts[i], pts[i + 1]) for i in range(n - 1)]
    return seg + [seg[-1]]


def _angle(u: Point, v: Point) -> float:
    nu, nv = math.hypot(*u), math.hypot(*v)
    if nu < _EPS or nv < _EPS:
        return 0.0
    return math.acos(max(-1.0, min(1.0, (u[0] * v[0] + u[1] * v[1]) / (nu * nv))))


def osdfd(p: list[Point], q: list[Point], lambda_theta: float = 0.25, lambda_r: float = 0.10) -> float:
    """Orientation-sensitive discrete Fréchet distance between two non-empty polylines."""
    dp, dq, lp, lq = _directions(p), _directions(q), _lengths(p), _lengths(q)

    def cost(i: int, j: int) -> float:
        if lp[i] > _EPS and lq[j] > _EPS:
            ratio = abs(math.log(lp[i] / lq[j]))
        else:
            ratio = abs(math.log((lp[i] + _EPS) / (lq[j] + _EPS)))
        return math.dist(p[i], q[j]) + lambda_theta * _angle(dp[i], dq[j]) + lambda_r * ratio

    m, n = len(p), len(q)
    ca = [[0.0] * n for _ in range(m)]
    for i in range(m):
        for j in range(n):
            c = cost(i, j)
            if i == 0 and j == 0:
                ca[i][j] = c
            elif j == 0:
                ca[i][j] = max(ca[i - 1][0], c)
            elif i == 0:
                ca[i][j] = max(ca[0][j - 1], c)
            else:
                ca[i][j] = max(min(ca[i - 1][j], ca[i - 1][j - 1], ca[i][j - 1]), c)
    return ca[m - 1][n - 1]


def trajectory_score(pred: list[Point], ref: list[Point], lambda_theta: float = 0.25, lambda_r: float = 0.10) -> float:
    denom = math.sqrt(2) + lambda_theta * math.pi + lambda_r * math.log(10.0)
    return 1.0 - min(1.0, osdfd(ref, pred, lambda_theta, lambda_r) / denom)


def _clip_points(pts: list[Point]) -> list[Point]:
    return [(min(1.0, max(0.0, x)), min(1.0, max(0.0, y))) for x, y in pts]


class Trajectory(Reward):
    name = "trajectory"
    description = "VLA-R1 trajectory reward 1 - min(1, OSDFD / (sqrt2 + 0.25 pi + 0.1 ln 10)), in [0, 1]"

    def __init__(
        self,
        *,
        answer_tag: str | None = "answer",
        lambda_theta: float = 0.25,
        lambda_r: float = 0.10,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.answer_tag = answer_tag or None
        self.lambda_theta, self.lambda_r = float(lambda_theta), float(lambda_r)

    def points(self, sample: Sample) -> tuple[list[Point], list[Point]]:
        ref = reference_of(sample)
        try:
            ref_pts = _clip_points(as_points(structured_reference(ref, self.answer_tag)))
        except Malformed as e:
            raise ValueError(f"reference is not a trajectory: {e}") from None
        pred = sample.cached(f"{self.answer_tag}:structured", lambda text: structured_answer(text, self.answer_tag))
        return _clip_points(as_points(pred)), ref_pts

    def compute(self, sample: Sample) -> float:
        pred, ref = self.points(sample)
        return trajectory_score(pred, ref, self.lambda_theta, self.lambda_r)
