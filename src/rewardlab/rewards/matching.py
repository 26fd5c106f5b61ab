"""Order-preserving sequence matching shared by the plan, protocol and shopping-action rewards.

``lcs_alignment`` is the longest common subsequence under an arbitrary equality test: the
maximum *ordered* (monotone) one-to-one matching between two sequences, which is what an
"ordered bipartite matching" of plan steps is. ``rouge_l`` is the LCS-based F-measure over
tokens (Lin, 2004, "ROUGE", section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def lcs_alignment(
    a: Sequence[Any], b: Sequence[Any], eq: Callable[[Any, Any], bool] | None = None
) -> list[tuple[int, int]]:
    """Index pairs (i, j), increasing in both, of a longest common subsequence of ``a`` and ``b``."""
    eq = eq or (lambda x, y: x == y)
    m, n = len(a), len(b)
    # table[i][j] = LCS length of a[i:] and b[j:]
    table = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        for j in range(n - 1, -1, -1):
            if eq(a[i], b[j]):
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < m and j < n:
        if eq(a[i], b[j]) and table[i][j] == table[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def is_subsequence(needle: Sequence[Any], haystack: Sequence[Any]) -> bool:
    """Whether ``needle`` appears in ``haystack`` in order (gaps allowed)."""
    it = iter(haystack)
    return all(any(x == y for y in it) for x in needle)


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1 over lower-cased whitespace tokens; 0 when either side is empty."""
    p, r = pred.casefold().split(), ref.casefold().split()
    if not p or not r:
        return 0.0
    lcs = len(lcs_alignment(p, r))
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def set_f1(pred: Sequence[str], ref: Sequence[str]) -> float:
    """F1 of two sets of normalised strings; 1 when both are empty."""
    p = {" ".join(str(x).casefold().split()) for x in pred}
    r = {" ".join(str(x).casefold().split()) for x in ref}
    if not p and not r:
        return 1.0
    inter = len(p & r)
    if inter == 0:
        return 0.0
    return 2 * inter / (len(p) + len(r))
