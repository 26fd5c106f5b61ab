"""``exact_match``: 1 when the answer equals the reference after normalisation, else 0.

The label-match reward of "PPO for LLM NLU" (seeds_table row 57; the paper's exact shaping is
unverified, this is the documented proposal) and the SQuAD exact-match metric's normalisation
(Rajpurkar et al., 2016; each step optional here). The answer is the ``<answer>`` content when
present, else the whole completion. A list reference means "any of these answers".
"""

from __future__ import annotations

from rewardlab.rewards.base import Malformed, Reward, Sample, reference_of
from rewardlab.rewards.parsing import answer_text, normalize_text


class ExactMatch(Reward):
    name = "exact_match"
    description = "1 if the (<answer>) text equals the reference after normalisation (case, spaces, ...)"

    def __init__(
        self,
        *,
        answer_tag: str | None = "answer",
        case_sensitive: bool = False,
        strip_punctuation: bool = False,
        remove_articles: bool = False,
        collapse_whitespace: bool = True,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.answer_tag = answer_tag or None
        self.options = dict(
            case_sensitive=case_sensitive,
            strip_punctuation=strip_punctuation,
            remove_articles=remove_articles,
            collapse_whitespace=collapse_whitespace,
        )

    def compute(self, sample: Sample) -> float:
        ref = reference_of(sample)
        answer = normalize_text(answer_text(sample.completion, self.answer_tag), **self.options)
        if not answer:
            raise Malformed("empty answer")
        refs = ref if isinstance(ref, list | tuple) else [ref]
        targets = {normalize_text(str(r), **self.options) for r in refs if r is not None}
        return 1.0 if answer in targets else 0.0
