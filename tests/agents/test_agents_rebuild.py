"""``context = "rebuild"``: the next prompt re-rendered whole, against token-delta append.

What it changes: nothing when the re-rendered conversation extends the stream (same single row as
append); a new training row when it does not -- an env prompt that rewrites the history
(Mobile-R1's "task + action history + current screen"), or sampled ids that re-encode differently
(drift). Trained tokens are never re-encoded: each sampled turn is trained once, in its own row.
"""

import pytest
import torch

from rewardlab.agents.env import AgentTask, ChatEnv, StepResult
from rewardlab.agents.rollout import AgentConfig, AgentLoop, scripted_policy
from rewardlab.errors import ConfigError
from rewardlab.llm.tiny import char_tokenizer
from rewardlab.tasks.base import Example

CHATML = (
    "{% for m in messages %}<bos>{{ m['role'] }}\n{{ m['content'] }}<eos>\n{% endfor %}"
    "{% if add_generation_prompt %}<bos>assistant\n{% endif %}"
)


class Screens(ChatEnv):
    """Three turns; each observation is a new screen. ``history_prompt``: the env also returns the
    whole next prompt (task + action history + current screen), as Mobile-R1 / UI-R1 prompt."""

    name = "screens"
    max_turns = 3
    action_format = "call"

    def __init__(self, history_prompt: bool = False) -> None:
        self.history_prompt = history_prompt

    def problems(self, split, seed):
        return [Example(prompt=None, reference="", info={"i": i}) for i in range(4)]

    def reset(self, *, seed, task=None):
        self.k, self.actions = 0, []
        return [{"role": "user", "content": "open the menu. screen 0"}], {"state_key": 0}

    def step(self, action):
        self.k += 1
        self.actions.append(action.text)
        info = {"state_key": self.k, "success": self.k == self.max_turns}
        if self.history_prompt:
            history = "; ".join(self.actions)
            info["prompt"] = [{"role": "user", "content": f"open the menu. did: {history}. screen {self.k}"}]
        reward = float(sum(map(ord, action.text)) % 2)  # something a random policy's turns differ in
        if self.k == self.max_turns:
            return StepResult([], reward, True, False, info)
        return StepResult([{"role": "user", "content": f"screen {self.k}"}], reward, False, False, info)


def _tok():
    tok = char_tokenizer()
    tok.chat_template = CHATML
    return tok


def _run(context, spell_out=False, **params):
    tok = _tok()
    task = AgentTask(Screens, **params)
    loop = AgentLoop(
        scripted_policy(tok), task, task.reward(), AgentConfig(context=context), max_completion_length=400
    )
    if spell_out:  # a "model" that writes <bos> letter by letter: decoding then encoding gives one token
        scripted, calls = loop._scripted_batch, []

        def batch(texts, max_new):
            out = scripted(texts, max_new)
            calls.append(1)
            if len(calls) > 1:  # only the first turn is spelled out
                return out
            b = tok.backend_tokenizer
            spelled = [b.token_to_id(c) for c in "x<bos>"] + [tok.eos_token_id]
            out.completion_ids[0, : len(spelled)] = torch.tensor(spelled)
            out.completion_mask[0, : len(spelled)] = 1
            return out

        loop._scripted_batch = batch
    texts = iter(["tap(1)", "tap(2)", "tap(3)"])
    eps = loop.run(task.examples("train")[:1], num_generations=1, seeds=[0], actor=lambda e, v: [next(texts)])
    return loop, eps[0], tok


def _trained(ep):
    return [[i for i, m in zip(tr.ids, tr.loss_mask) if m] for tr in ep.all_rows]


def test_rebuild_without_drift_is_append():
    _, a, _ = _run("append")
    loop, r, _ = _run("rebuild")
    assert len(r.all_rows) == 1 and a.drift_tokens == 0
    assert (r.trajectory.prompt_ids, r.trajectory.ids, r.trajectory.loss_mask, r.trajectory.turn_index) == (
        a.trajectory.prompt_ids,
        a.trajectory.ids,
        a.trajectory.loss_mask,
        a.trajectory.turn_index,
    )
    assert loop.to_batch([r], 1).prompt_ids.shape[0] == 1


def test_an_env_prompt_that_rewrites_the_history_starts_a_new_row_per_turn():
    loop, ep, tok = _run("rebuild", history_prompt=True)
    rows = ep.all_rows
    assert len(rows) == 3
    sampled = [t.sampled_ids for t in ep.turns]
    assert _trained(ep) == sampled  # each turn trained once, in its own row, with its sampled ids
    for k, tr in enumerate(rows[1:], start=1):
        prompt = f"open the menu. did: {'; '.join(f'tap({j})' for j in range(1, k + 1))}. screen {k}"
        assert tok.decode(tr.prompt_ids) == f"<bos>user\n{prompt}<eos>\n<bos>assistant\n"
        assert tr.loss_mask == [1] * len(sampled[k])  # the new row holds only what was sampled after it
    batch = loop.to_batch([ep], 1)
    assert batch.completion_ids.shape[0] == 3 and loop.row_episode.tolist() == [0, 0, 0]
    assert torch.equal(batch.loss_mask, batch.completion_mask)
    # append mode on the same env ignores the env prompt: one row, deltas of the short observations
    _, a, _ = _run("append", history_prompt=True)
    assert len(a.all_rows) == 1 and _trained(a) == [sum(sampled, [])]


def test_drifting_sampled_ids_start_a_new_row_instead_of_being_re_encoded():
    _, a, tok = _run("append", spell_out=True)
    spelled = a.turns[0].sampled_ids
    assert (
        tok.decode(spelled[:-1]) == "x<bos>" and a.drift_tokens > 0
    )  # append keeps them, the audit sees drift
    _, r, _ = _run("rebuild", spell_out=True)
    assert len(r.all_rows) == 2
    assert r.rows[0].ids == spelled and r.rows[0].loss_mask == [1] * len(spelled)  # closed right after turn 0
    # the new row's prompt is the re-rendered chat: the spelled <bos> re-encodes to one special token
    # there, read as context but never trained
    p0, p1 = r.rows[0].prompt_ids, r.all_rows[1].prompt_ids
    x = tok.backend_tokenizer.token_to_id("x")
    assert p1[: len(p0)] == p0 and p1[len(p0) : len(p0) + 2] == [x, tok.bos_token_id] != spelled[:2]
    assert _trained(r) == [spelled, r.turns[1].sampled_ids + r.turns[2].sampled_ids]


def test_rebuild_refuses_shared_prompts_and_trains_one_row_per_segment():
    from rewardlab.llm.grpo import GRPO, GRPOConfig
    from rewardlab.llm.policy import Policy
    from rewardlab.llm.tiny import tiny_llama

    common = dict(
        num_threads=1,
        batch_size=2,
        num_generations=2,
        max_completion_length=24,
        max_prompt_length=128,
        lora_r=0,
        total_steps=2,
        agent={"context": "rebuild", "max_turn_tokens": 4},
    )
    task = AgentTask(Screens, history_prompt=True)
    model, tok = tiny_llama(seed=0)
    with pytest.raises(ConfigError, match="context = 'rebuild'.*share_prompt = false"):
        GRPO(GRPOConfig(**common), policy=Policy(model, tok, GRPOConfig(**common)), task=task)
    cfg = GRPOConfig(**common, share_prompt=False)
    torch.manual_seed(0)
    algo = GRPO(cfg, policy=Policy(model, tok, cfg), task=task)
    before = [p.detach().clone() for p in algo.policy.trainable_parameters()]
    m = algo.step()
    assert m["tokens/rows_per_episode"] > 1.0 and torch.isfinite(torch.tensor(m["loss"]))
    assert m["advantage_abs_mean"] > 0
    assert algo.rollout.batch.completion_ids.shape[0] == int(round(m["tokens/rows_per_episode"] * 4))
    assert any(not torch.equal(a, b) for a, b in zip(before, algo.policy.trainable_parameters()))


def test_rebuild_rows_take_their_own_turns_advantages():
    from types import SimpleNamespace

    from rewardlab.llm.grpo import group_advantages

    tok = _tok()
    task = AgentTask(Screens, history_prompt=True)
    cfg = AgentConfig(context="rebuild", advantage="return_to_go")
    loop = AgentLoop(scripted_policy(tok), task, task.reward(), cfg, max_completion_length=400)
    loop.algo = SimpleNamespace(
        config=SimpleNamespace(num_generations=2), compute_advantages=lambda r: group_advantages(r, 2)
    )
    texts = iter(["a", "bb", "a", "a", "bb", "bb"])  # turn rewards follow the parity of the text
    eps = loop.run(
        task.examples("train")[:1], num_generations=2, seeds=[0], actor=lambda e, v: [next(texts) for _ in e]
    )
    batch = loop.to_batch(eps, 2)
    rewards = torch.tensor([sum(ep.turn_rewards) for ep in eps])
    turns = loop.turn_advantages(rewards)
    tokens = loop.advantages(rewards, batch)
    assert tokens.shape[0] == 6 and loop.row_episode.tolist() == [0, 0, 0, 1, 1, 1]
    assert len({round(a, 4) for row in turns for a in row}) > 2  # distinct per-turn values to tell apart
    for r in range(6):  # row r of episode e holds turn r % 3 of it
        e, t = r // 3, r % 3
        trained = batch.loss_mask[r] == 1
        assert torch.allclose(tokens[r][trained], torch.tensor(turns[e][t]))
