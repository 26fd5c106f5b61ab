"""``mini-search``: ReSeek's search agent on a small synthetic multi-hop corpus, with a JUDGE action.

ReSeek (TencentBAC, code read in ``docs/agents.md``): the agent searches with
``<search>query</search>``, the env returns the **top 3** passages in
``<information>...</information>``, and after each result the agent writes
``<judge>Yes|No</judge>`` (was that information useful?) before searching again or answering in
``<answer>...</answer>``; at most **4 searches**. The corpus is fictional (FictionalHot-style), so
nothing can be answered from memory: it is generated from a fixed seed at import (two-hop chains
"the X is made by company C" / "company C was founded by person P"), and retrieval is BM25
(Robertson and Zaragoza 2009; k1 = 1.5, b = 0.75).

Reward: ReSeek's ``compute_score`` (``search_r1_like_qa_em_s4.py``), summed into one scalar:
exact match of the answer (1; 1/4 when there are more than 10 answer tags; 0 without an answer),
plus, only when an answer exists, for each (information, judge) pair: a Yes with a correct answer
+0.3 + 0.1; otherwise the information is "useful" when it contains the gold answer, and a judge
that agrees with usefulness gets +0.3 (+0.1 if the answer is correct), a wrong Yes -0.6, a wrong
No -0.3.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import ChatEnv, StepResult
from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward
from rewardlab.tasks.base import Example

MAX_SEARCHES = 4
TOP_K = 3
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "zen",
    "tor",
    "vi",
    "quel",
    "ba",
    "dru",
    "sa",
    "nox",
    "pe",
    "ul",
    "ith",
    "gor",
]
_SEARCH = re.compile(r"<search>(.*?)</search>", re.DOTALL)
_JUDGE = re.compile(r"<judge>\s*(yes|no)\s*</judge>", re.IGNORECASE)
_INFO = re.compile(r"<information>(.*?)</information>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def build_corpus(seed: int = 7, chains: int = 300) -> tuple[list[str], list[dict[str, str]]]:
    """(documents, questions): each chain gives a product, a company and a founder, two documents
    and the question "Who founded the company that makes the <product>?"."""
    rng = random.Random(seed)
    docs, questions, used = [], [], set()
    while len(questions) < chains:
        product, company, person = _name(rng, 3), _name(rng, 3) + " Corp", _name(rng, 2) + " " + _name(rng, 2)
        if {product, company, person} & used:
            continue
        used |= {product, company, person}
        docs.append(f"The {product} is a device made by {company}.")
        docs.append(f"{company} was founded by {person} in {rng.randint(1900, 2020)}.")
        questions.append(
            {
                "question": f"Who founded the company that makes the {product}?",
                "answer": person,
                "product": product,
                "company": company,
            }
        )
    return docs, questions


def _terms(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class BM25:
    """Okapi BM25 over a fixed list of documents."""

    def __init__(self, docs: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.docs, self.k1, self.b = docs, k1, b
        self.tf = [Counter(_terms(d)) for d in docs]
        self.lengths = [sum(t.values()) for t in self.tf]
        self.avg = sum(self.lengths) / max(len(docs), 1)
        df = Counter(term for t in self.tf for term in t)
        n = len(docs)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def search(self, query: str, k: int = TOP_K) -> list[str]:
        q = _terms(query)
        scores = []
        for i, (tf, length) in enumerate(zip(self.tf, self.lengths)):
            s = 0.0
            for term in q:
                f = tf.get(term, 0)
                if f:
                    s += (
                        self.idf[term]
                        * f
                        * (self.k1 + 1)
                        / (f + self.k1 * (1 - self.b + self.b * length / self.avg))
                    )
            scores.append((-s, i))
        return [self.docs[i] for s, i in sorted(scores)[:k] if s < 0]


DOCS, QUESTIONS = build_corpus()
_INDEX: BM25 | None = None


def index() -> BM25:
    global _INDEX
    if _INDEX is None:
        _INDEX = BM25(DOCS)
    return _INDEX


def reseek_score(transcript: str, gold: str) -> float:
    """ReSeek's compute_score on a transcript (see the module docstring)."""
    answers = _ANSWER.findall(transcript)
    tags = transcript.count("<answer>") + transcript.count("</answer>")
    if not answers:
        return 0.0
    correct = answers[-1].strip().lower() == gold.strip().lower()
    score = (0.25 if tags > 10 else 1.0) if correct else 0.0
    # pair each information block with the first judge written after it
    infos = [(m.end(), m.group(1)) for m in _INFO.finditer(transcript)]
    judges = [(m.start(), m.group(1).lower()) for m in _JUDGE.finditer(transcript)]
    for end, info in infos:
        judge = next((j for pos, j in judges if pos >= end), None)
        if judge is None:
            continue
        if judge == "yes" and correct:
            score += 0.3 + 0.1
            continue
        useful = gold.lower() in info.lower()
        if (judge == "yes") == useful:
            score += 0.3 + (0.1 if correct else 0.0)
        else:
            score += -0.6 if judge == "yes" else -0.3
    return score


class ReSeekReward(Reward):
    name = "reseek"
    minimum = -2.4
    maximum = 1.0 + 0.4 * MAX_SEARCHES

    def compute(self, sample: Any) -> float:
        return reseek_score(sample.info.get("transcript", sample.completion), str(sample.reference))


class MiniSearchEnv(ChatEnv):
    name = "mini-search"
    description = "ReSeek: BM25 search(query) over a synthetic two-hop corpus, <judge> after each result"
    summary = description
    action_format = "hermes"  # <answer> is read from the text; <search> / <judge> by the env
    max_turns = MAX_SEARCHES + 1

    def __init__(self, num_train: int = 250, num_test: int = 50) -> None:
        if num_train + num_test > len(QUESTIONS) or min(num_train, num_test) < 1:
            raise ConfigError(f"mini-search: num_train + num_test must be in [2, {len(QUESTIONS)}]")
        self.num_train, self.num_test = num_train, num_test
        self.question: dict[str, str] = {}
        self.searches = 0

    def problems(self, split: str, seed: int) -> list[Example]:
        # the last num_test questions are the test split for every run; training order is the trainer's
        chosen = QUESTIONS[-self.num_test :] if split == "test" else QUESTIONS[: self.num_train]
        return [Example(prompt=None, reference=q["answer"], info={"qid": QUESTIONS.index(q)}) for q in chosen]

    def default_reward(self) -> Reward:
        return ReSeekReward()

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("mini-search: reset needs task= (one of env.problems(split, seed))")
        self.question, self.searches = QUESTIONS[int(task.info["qid"])], 0
        prompt = (
            f"Answer the question: {self.question['question']}\nSearch with <search>query</search>; results come "
            "in <information>...</information>. After each result write <judge>Yes</judge> if it helps answer "
            f"the question, else <judge>No</judge>. At most {MAX_SEARCHES} searches. Give the final answer as "
            "<answer>name</answer>."
        )
        return [{"role": "user", "content": prompt}], {}

    def step(self, action: Action) -> StepResult:
        text = action.text
        if "<answer>" in text or "<search>" not in text:
            answer = _ANSWER.findall(text)
            success = bool(answer) and answer[-1].strip().lower() == self.question["answer"].lower()
            return StepResult([], 0.0, True, False, {"success": success})
        queries = _SEARCH.findall(text)
        if not queries:
            return StepResult(
                [{"role": "tool", "content": "Error: close the query with </search>."}],
                0.0,
                False,
                False,
                {"malformed": 1, "errors": 1, "calls": 0},
            )
        self.searches += 1
        if self.searches > MAX_SEARCHES:
            return StepResult(
                [{"role": "tool", "content": "No searches left; give the <answer>."}],
                0.0,
                False,
                False,
                {"calls": 1, "errors": 1},
            )
        passages = index().search(queries[-1])
        body = "\n".join(f"Doc {i + 1}: {p}" for i, p in enumerate(passages)) or "(no results)"
        return StepResult(
            [{"role": "tool", "content": f"<information>{body}</information>"}],
            0.0,
            False,
            False,
            {"calls": 1, "errors": 0},
        )

    def oracle(self, messages: list[dict], info: dict) -> str:
        q, last = self.question, messages[-1]
        if last["role"] != "tool":
            return f"<search>{q['product']}</search>"
        useful = q["answer"] in last["content"]
        judge = f"<judge>{'Yes' if useful else 'No'}</judge>"
        if not useful:
            return f"{judge}<search>{q['company']} founded</search>"
        return f"{judge}<answer>{q['answer']}</answer>"
