"""The multi-turn rollout: batched episodes through the env contract, into GRPO's batch.

Per step the trainer takes ``batch_size`` problems and runs ``num_generations`` episodes of each
(the group shares the reset seed, so its G members start in the same state). Every turn, the
assistant turns of *all* active episodes are sampled in one batched ``generate`` call (the first
turn exactly as single-turn GRPO samples: one prompt per group, its cache repeated G times), then
each env steps. An episode ends when the env terminates it or a budget truncates it:

* ``max_turns`` assistant turns;
* ``max_episode_tokens`` tokens after the prompt (sampled + inserted), like TRL's
  ``max_completion_length`` for tool loops: a turn cut by it ends the episode, an observation that
  would overflow it is not appended (both counted as truncations, never silent);
* ``max_consecutive_errors`` turns in a row that were malformed or whose calls all failed;
* ``max_tool_output_tokens`` per observation message: longer content is cut and counted.

The batch the loss sees: ``prompt_ids`` = the initial prompt, ``completion_ids`` = the token stream
(:class:`~rewardlab.agents.trajectory.Trajectory`), ``completion_mask`` = attention over it,
``loss_mask`` = 1 only on sampled tokens. A single-turn task goes through the same code as its
1-turn case and produces the very batch single-turn GRPO produces (``loss_mask`` None).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rewardlab.agents.actions import FORMATS, Action, parse_action
from rewardlab.agents.credit import (
    ADVANTAGES,
    gigpo_advantages,
    mt_grpo_advantages,
    per_token,
    return_to_go_advantages,
)
from rewardlab.agents.env import ChatEnv, TaskEnv, ToolEnv
from rewardlab.agents.trajectory import Episode, Renderer, Trajectory, Turn
from rewardlab.errors import ConfigError, RewardlabError, did_you_mean
from rewardlab.llm.policy import Batch

#: how the next turn's prompt is built (see ``AgentLoop._rebuild``)
CONTEXTS = ("append", "rebuild")
#: where thought cloning's expert turns come from (see rewardlab.agents.thought_cloning)
CLONE_SOURCES = ("corrector", "oracle")


@dataclass
class AgentConfig:
    """The ``[agent]`` table of a GRPO config. 0 / "" mean "the env's own value" or "the run's"."""

    action_format: str = ""  # hermes | call | json; "" = the env's
    max_turns: int = 0  # assistant turns per episode; 0 = the env's
    max_turn_tokens: int = 0  # new tokens per assistant turn; 0 = max_completion_length
    max_episode_tokens: int = 0  # tokens after the prompt (sampled + env); 0 = max_completion_length
    max_tool_output_tokens: int = 256  # per observation message; longer content is cut (counted)
    max_consecutive_errors: int = 3  # malformed / all-failed turns in a row before truncation
    advantage: str = "episode"  # episode | return_to_go | mt_grpo | gigpo (see rewardlab.agents.credit)
    gamma: float = 1.0  # discount of return_to_go and gigpo's step returns (GiGPO's paper: 0.95)
    credit_coef: float = 1.0  # lambda of mt_grpo's turn term, omega of gigpo's step term
    gigpo_step_std: bool = True  # gigpo: divide step advantages by their group's std (False = mean_norm)
    env_workers: int = 0  # threads stepping the envs of a turn concurrently (0 / 1 = in order)
    context: str = "append"  # append (token deltas, one row) | rebuild (re-render the next prompt)
    sft_steps: int = 0  # thought-cloning warm start: SFT steps on oracle episodes before GRPO (agents.sft)
    sft_batch_size: int = 8  # oracle episodes per SFT step
    sft_learning_rate: float = 1e-4
    thought_cloning_coef: float = 0.0  # GTR: + coef x NLL of expert turns at the states the policy visited
    thought_cloning_source: str = "corrector"  # corrector: info["corrected_turn"]; oracle: env.oracle
    drift_audit: bool = True  # re-render each finished episode and log tokens/drift_tokens
    kv_cache: bool = True  # append context: keep the key/value cache across turns (rewardlab.agents.kv_cache)

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> AgentConfig:
        names = [f.name for f in dataclasses.fields(cls)]
        for key in table:
            if key not in names:
                raise ConfigError(
                    f"[agent] has no key {key!r}.{did_you_mean(key, names)} Valid keys: {', '.join(names)}"
                )
        cfg = cls(**table)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.action_format and self.action_format not in FORMATS:
            raise ConfigError(
                f"[agent] action_format {self.action_format!r} is not one of {', '.join(FORMATS)}"
            )
        if self.advantage not in ADVANTAGES:
            raise ConfigError(f"[agent] advantage {self.advantage!r} is not one of {', '.join(ADVANTAGES)}")
        for key in ("max_turns", "max_turn_tokens", "max_episode_tokens"):
            if getattr(self, key) < 0:
                raise ConfigError(f"[agent] {key} must be >= 0 (0 = default), got {getattr(self, key)}")
        for key in ("max_tool_output_tokens", "max_consecutive_errors"):
            if getattr(self, key) < 1:
                raise ConfigError(f"[agent] {key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"[agent] gamma must be in [0, 1], got {self.gamma}")
        if self.context not in CONTEXTS:
            raise ConfigError(f"[agent] context {self.context!r} is not one of {', '.join(CONTEXTS)}")
        if self.sft_steps < 0 or self.sft_batch_size < 1 or self.sft_learning_rate <= 0:
            raise ConfigError(
                f"[agent] sft_steps must be >= 0, sft_batch_size >= 1 and sft_learning_rate > 0; got "
                f"{self.sft_steps}, {self.sft_batch_size}, {self.sft_learning_rate}"
            )
        if self.thought_cloning_coef < 0 or self.thought_cloning_source not in CLONE_SOURCES:
            raise ConfigError(
                f"[agent] thought_cloning_coef must be >= 0 and thought_cloning_source one of "
                f"{', '.join(CLONE_SOURCES)}; got {self.thought_cloning_coef}, {self.thought_cloning_source!r}"
            )
        if self.thought_cloning_coef > 0 and self.context != "append":
            raise ConfigError(
                "[agent] thought_cloning_coef > 0 needs context = 'append' (one row per episode)"
            )
        if self.env_workers < 0:
            raise ConfigError(
                f"[agent] env_workers must be >= 0 (0 = step envs in order), got {self.env_workers}"
            )
        if self.advantage == "mt_grpo":
            warnings.warn(
                "[agent] advantage = 'mt_grpo' normalises immediate turn rewards per turn index; it is biased "
                "when the policy decides when to stop (verl RFC #7244; see rewardlab.agents.credit). Prefer "
                "'gigpo' or 'return_to_go' on envs whose episode length the agent controls.",
                stacklevel=2,
            )


def anchor_key(env: ChatEnv, messages: list[dict[str, Any]], info: dict[str, Any]) -> Any:
    """The anchor state a turn acts in, for GiGPO's step groups: the env's ``info["state_key"]``
    when it gives one (must be hashable), else the exact observation messages that led to the turn."""
    key = info.get("state_key") if isinstance(info, dict) else None
    if key is None:
        return tuple((str(m.get("role", "")), str(m.get("content", ""))) for m in messages)
    try:
        hash(key)
    except TypeError as e:
        raise RewardlabError(
            f"environment {env.name!r}: info['state_key'] must be hashable (a str, int or tuple), "
            f"got {type(key).__name__}"
        ) from e
    return key


def _left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(r)
            mask[i, width - len(r) :] = 1
    return ids, mask


class AgentLoop:
    """Runs episodes of a task's envs with a :class:`~rewardlab.llm.policy.Policy` and turns them
    into GRPO batches, rewards, advantages and metrics."""

    def __init__(
        self,
        policy: Any,
        task: Any,
        reward: Any,
        config: AgentConfig,
        *,
        max_completion_length: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        algo: Any = None,
    ) -> None:
        self.policy, self.task, self.reward, self.cfg, self.algo = policy, task, reward, config, algo
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        self.max_episode_tokens = config.max_episode_tokens or max_completion_length
        self.max_turn_tokens = min(config.max_turn_tokens or max_completion_length, self.max_episode_tokens)
        self.renderer = Renderer(
            policy.tokenizer,
            system_prompt=policy.cfg.system_prompt,
            use_chat_template=policy.cfg.use_chat_template,
        )
        probe = self.make_env()
        self.env_name = probe.name
        self.native = None
        if probe.action_format == "native":  # the tokenizer's own tool syntax; its template lists the tools
            from rewardlab.agents.native import NativeToolFormat

            self.native = NativeToolFormat.from_tokenizer(policy.tokenizer)
            self.renderer.tools = [t.schema for t in probe.tools()] or None
        self.max_turns = config.max_turns or probe.max_turns
        if self.max_episode_tokens != max_completion_length:
            policy.check_context(self.max_episode_tokens)
        self.last_episodes: list[Episode] = []
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the env thread pool (if one was started) and release what the task's envs share."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        release = getattr(self.task, "close", None)
        if callable(release):  # an AgentTask: e.g. miniwob's browser pool
            release()

    @classmethod
    def for_algorithm(cls, algo: Any) -> AgentLoop:
        cfg = algo.config
        agent = AgentConfig.from_dict(dict(cfg.agent))
        if agent.advantage != "episode" and getattr(cfg, "dynamic_sampling", False):
            raise ConfigError(
                f"[agent] advantage = {agent.advantage!r} cannot be combined with dynamic_sampling "
                "(it drops rows the per-turn advantages are aligned with); use advantage = 'episode'"
            )
        if agent.context == "rebuild":
            from rewardlab.llm.online import OnlineRL

            # rebuild rows of one group no longer share a prompt, and row counts differ from episode
            # counts: refuse the options that assume one row per episode
            bad = [
                (getattr(cfg, "share_prompt", False), "share_prompt = false"),
                (getattr(cfg, "dynamic_sampling", False), "dynamic_sampling = false"),
                (getattr(cfg, "overlong_buffer", 0) > 0, "overlong_buffer = 0"),
                (
                    type(algo).adjust_rewards is not OnlineRL.adjust_rewards,
                    "an algorithm without a KL-in-reward term",
                ),
            ]
            for broken, fix in bad:
                if broken:
                    raise ConfigError(
                        f"[agent] context = 'rebuild' trains one row per prompt segment; it needs {fix}"
                    )
        return cls(
            algo.policy,
            algo.task,
            algo.reward,
            agent,
            max_completion_length=cfg.max_completion_length,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            seed=cfg.seed,
            algo=algo,
        )

    # ---- envs ---------------------------------------------------------------------------------
    def make_env(self) -> ChatEnv:
        env = self.task.make_env() if hasattr(self.task, "make_env") else TaskEnv(self.task)
        if self.cfg.action_format:
            env.action_format = self.cfg.action_format
        return env

    # ---- episodes -----------------------------------------------------------------------------
    def run(
        self,
        examples: list[Any],
        *,
        num_generations: int,
        seeds: list[int],
        greedy: bool = False,
        metrics: dict | None = None,
        actor: Any = None,
    ) -> list[Episode]:
        """``num_generations`` episodes of each example (a group shares ``seeds[i]``), all turns batched.

        ``actor(episodes, envs) -> texts`` replaces the LM with a scripted policy (oracles, fuzzing):
        its texts are tokenized, end with EOS, and go through exactly the same bookkeeping."""
        metrics = metrics if metrics is not None else {}
        G = num_generations
        episodes: list[Episode] = []
        envs: list[ChatEnv] = []
        t_env = time.perf_counter()
        jobs = [
            (g, ex, seed, self.make_env())
            for g, (ex, seed) in enumerate(zip(examples, seeds))
            for _ in range(G)
        ]
        resets = self._map(
            lambda job: self._call(job[3], "reset", lambda: job[3].reset(seed=job[2], task=job[1])), jobs
        )
        for k, ((g, ex, seed, env), (messages, info)) in enumerate(zip(jobs, resets)):
            first = resets[k - k % G][0]
            if messages != first:
                raise RewardlabError(
                    f"environment {env.name!r}: reset(seed={seed}, task=...) returned different messages for "
                    "the same seed and task; reset must be a pure function of (seed, task) so a GRPO group "
                    "starts from one state"
                )
            envs.append(env)
            episodes.append(
                Episode(
                    example=ex,
                    seed=seed,
                    group=g,
                    messages=list(messages),
                    trajectory=Trajectory([]),
                    prompt=info.get("prompt", messages),
                    info=dict(info),
                    initial=len(messages),
                    counts={"calls": 0, "malformed": 0, "errors": 0, "overflow": 0},
                    plain_task=isinstance(env, TaskEnv),
                    state_keys=[anchor_key(env, messages, info)],
                )
            )
        metrics["time/env"] = metrics.get("time/env", 0.0) + time.perf_counter() - t_env
        if self.native is not None:  # rendered with tools=, which Policy.format_prompt does not pass
            prompt_ids, prompt_mask = _left_pad(
                [
                    self.renderer.encode(self.renderer.render(episodes[g * G].messages, True))
                    for g in range(len(examples))
                ],
                self.policy.pad_token_id,
            )
        else:
            prompt_ids, prompt_mask = self.policy.encode_prompts(
                [episodes[g * G].prompt for g in range(len(examples))]
            )
        self._prompts = (prompt_ids, prompt_mask)
        for i, ep in enumerate(episodes):
            row = prompt_ids[i // G][prompt_mask[i // G].bool()].tolist()
            ep.trajectory.prompt_ids = row
        consecutive = [0] * len(episodes)
        reuse = None
        if actor is None and self.cfg.kv_cache and self.cfg.context == "append":
            from rewardlab.agents.kv_cache import TurnCache

            reuse = TurnCache(self.policy, temperature=self.temperature, top_p=self.top_p, greedy=greedy)
        for turn in range(self.max_turns):
            active = [i for i, ep in enumerate(episodes) if not ep.done]
            if not active:
                break
            budget = max(self.max_episode_tokens - len(episodes[i].trajectory) for i in active)
            max_new = min(self.max_turn_tokens, budget)
            t_gen = time.perf_counter()
            if actor is not None:
                texts = actor([episodes[i] for i in active], [envs[i] for i in active])
                batch = self._scripted_batch(texts, max_new)
                rows = {i: r for r, i in enumerate(active)}
            elif reuse is not None:  # the previous turn's key/value cache, only the new tokens pre-filled
                if turn == 0:
                    batch = reuse.first_turn(prompt_ids, prompt_mask, G, max_new)
                else:
                    streams = [episodes[i].trajectory.prompt_ids + episodes[i].trajectory.ids for i in active]
                    batch = reuse.next_turn(active, streams, max_new)
                rows = {i: r for r, i in enumerate(active)}
            elif turn == 0:  # one prompt per group, as single-turn GRPO samples it
                batch = self.policy.generate(
                    prompt_ids,
                    prompt_mask,
                    num_generations=G,
                    max_new_tokens=max_new,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    greedy=greedy,
                    return_logprobs=True,
                )
                rows = {i: i for i in active}
            else:
                ctx = [episodes[i].trajectory.prompt_ids + episodes[i].trajectory.ids for i in active]
                ids, mask = _left_pad(ctx, self.policy.pad_token_id)
                batch = self.policy.generate(
                    ids,
                    mask,
                    num_generations=1,
                    max_new_tokens=max_new,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    greedy=greedy,
                    return_logprobs=True,
                )
                rows = {i: r for r, i in enumerate(active)}
            metrics["time/generate"] = metrics.get("time/generate", 0.0) + time.perf_counter() - t_gen
            t_env = time.perf_counter()
            # parse in order, step the envs (concurrently with env_workers), book the results in order:
            # the pool changes when env.step runs, never what the episodes record
            actions = {i: self._append_turn(episodes[i], envs[i], batch, rows[i], turn) for i in active}
            stepping = [i for i in active if actions[i] is not None]
            results = self._map(lambda i, a=actions: self._step(envs[i], a[i]), stepping)
            for i, result in zip(stepping, results):
                self._book_step(episodes[i], envs[i], result, turn, consecutive, i)
            metrics["time/env"] = metrics.get("time/env", 0.0) + time.perf_counter() - t_env
        for ep, env in zip(episodes, envs):
            if not ep.done:  # only when max_turns == 0 turns were run
                ep.truncated, ep.truncation = True, "max_turns"
            if self.cfg.drift_audit and self.cfg.context == "append":
                last = max(i for i, m in enumerate(ep.messages) if m["role"] == "assistant")
                runtime = ep.trajectory.prompt_ids + ep.trajectory.ids
                ep.drift_tokens = self.renderer.drift(runtime, ep.messages[: last + 1])
            env.close()
        self.last_episodes = episodes
        return episodes

    def _scripted_batch(self, texts: list[str], max_new: int) -> Batch:
        eos = self.policy.eos_token_id
        rows = []
        for text in texts:
            ids = self.renderer.encode(str(text))
            rows.append(ids[:max_new] if len(ids) >= max_new else ids + [eos])
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.policy.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        empty = torch.zeros((len(rows), 1), dtype=torch.long)
        return Batch(empty, empty, ids, mask, logprobs=torch.zeros(ids.shape))

    def _call(self, env: ChatEnv, what: str, fn) -> Any:
        try:
            return fn()
        except RewardlabError:
            raise
        except Exception as e:
            raise RewardlabError(f"environment {env.name!r}: {what} raised {type(e).__name__}: {e}") from e

    def _step(self, env: ChatEnv, action: Action) -> Any:
        return self._call(env, "step", lambda: env.step(action))

    def _map(self, fn, items: list) -> list:
        """``[fn(x) for x in items]``, on ``env_workers`` threads when set (results in input order)."""
        workers = min(self.cfg.env_workers, len(items))
        if workers <= 1:
            return [fn(x) for x in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.cfg.env_workers, thread_name_prefix="rewardlab-env")
        return list(self._pool.map(fn, items))

    def _append_turn(self, ep: Episode, env: ChatEnv, batch: Batch, row: int, turn: int) -> Action | None:
        """Append one sampled turn and parse it; None when the episode ended (cut by the token budget)."""
        tok = self.policy.tokenizer
        keep = batch.completion_mask[row].bool()
        ids = batch.completion_ids[row][keep].tolist()
        lps = batch.logprobs[row][keep].tolist()
        eos = self.policy.eos_token_id
        remaining = self.max_episode_tokens - len(ep.trajectory)
        cut = len(ids) > remaining
        if cut:
            ids, lps = ids[:remaining], lps[:remaining]
        ended = bool(ids) and ids[-1] == eos
        text = tok.decode(ids, skip_special_tokens=True)
        start = len(ep.trajectory)
        expert = self._expert(ep, env)
        ep.trajectory.append_sampled(ids, lps, turn)
        content_ids = ids[:-1] if ended else ids
        ep.messages.append(
            {"role": "assistant", "content": tok.decode(content_ids, skip_special_tokens=False)}
        )
        t = Turn(ids, lps, text, "eos" if ended else "length", start=start, expert=expert)
        ep.turns.append(t)
        if cut:
            ep.truncated, ep.truncation = True, "max_episode_tokens"
            return None
        if isinstance(env, TaskEnv):
            action = Action(text=text)
        else:
            table = env.tool_table() if isinstance(env, ToolEnv) else {t_.name: t_ for t_ in env.tools()}
            if env.action_format == "native":
                action = self.native.parse(text, table)
            else:
                action = parse_action(text, env.action_format, table)
        t.action = action
        return action

    def _expert(self, ep: Episode, env: ChatEnv) -> str | None:
        """The oracle's turn at the state the policy is in (before the policy's turn is appended),
        when thought cloning asks the oracle; None otherwise."""
        if self.cfg.thought_cloning_coef > 0 and self.cfg.thought_cloning_source == "oracle":
            return str(self._call(env, "oracle", lambda: env.oracle(ep.messages, ep.info)))
        return None

    def _book_step(self, ep: Episode, env: ChatEnv, result: Any, turn: int, consecutive, i) -> None:
        """Record the env's answer to a turn and append its observation (or end the episode)."""
        t = ep.turns[-1]
        ended = t.stop == "eos"
        obs, reward, terminated, truncated, info = result
        t.reward, t.observation, t.info = float(reward), list(obs), dict(info)
        if self.cfg.thought_cloning_coef > 0 and self.cfg.thought_cloning_source == "corrector":
            corrected = info.get("corrected_turn")  # the env's corrected version of this turn, if wrong
            t.expert = None if corrected is None else str(corrected)
        ep.info = dict(info)
        calls, errors, malformed = (
            int(info.get("calls", 0)),
            int(info.get("errors", 0)),
            int(info.get("malformed", 0)),
        )
        ep.counts["calls"] += calls
        ep.counts["malformed"] += malformed
        ep.counts["errors"] += errors - malformed  # tool errors (malformed turns are counted apart)
        failed = malformed > 0 or (calls > 0 and errors >= calls)
        consecutive[i] = consecutive[i] + 1 if failed else 0
        ep.terminated, ep.truncated = bool(terminated), bool(truncated)
        if ep.truncated:
            ep.truncation = "env"
        if not ep.done and consecutive[i] >= self.cfg.max_consecutive_errors:
            ep.truncated, ep.truncation = True, "consecutive_errors"
        if not ep.done and turn + 1 >= self.max_turns:
            ep.truncated, ep.truncation = True, "max_turns"
        obs = [self._cap(ep, m) for m in obs]
        ep.messages.extend(obs)
        if ep.done:
            return
        ep.state_keys.append(anchor_key(env, obs, info))
        if self.cfg.context == "rebuild":
            self._rebuild(ep, info, turn)
            return
        context = self.renderer.boundary(ended) + self.renderer.observation(obs)
        if len(ep.trajectory) + len(context) >= self.max_episode_tokens:  # no room left for a reply
            ep.truncated, ep.truncation = True, "max_episode_tokens"
            ep.counts["overflow"] += 1
            return
        ep.trajectory.append_context(context, turn)

    def _rebuild(self, ep: Episode, info: dict[str, Any], turn: int) -> None:
        """``context = "rebuild"``: the next prompt is rendered whole -- the env's ``info["prompt"]``
        (a message list: task + action history + current screen, as Mobile-R1 / UI-R1 prompt) or else
        the whole conversation so far. When the current row's tokens are a prefix of it, the rest is
        appended with mask 0 (exactly append mode's tokens when nothing drifted); otherwise the row
        is closed and a new one starts from the new prompt, so no trained token is ever re-encoded."""
        prompt = info.get("prompt") if isinstance(info, dict) else None
        messages = list(prompt) if isinstance(prompt, list) else ep.messages
        next_ids = self.renderer.encode(self.renderer.render(messages, True))
        tr = ep.trajectory
        stream = tr.prompt_ids + tr.ids
        if next_ids[: len(stream)] == stream and len(next_ids) > len(stream):
            context = next_ids[len(stream) :]
            if len(tr) + len(context) >= self.max_episode_tokens:  # no room left for a reply
                ep.truncated, ep.truncation = True, "max_episode_tokens"
                ep.counts["overflow"] += 1
                return
            tr.append_context(context, turn)
            return
        ep.rows.append(tr)
        ep.trajectory = Trajectory(next_ids)

    def _cap(self, ep: Episode, message: dict[str, Any]) -> dict[str, Any]:
        """Cut an observation's content to ``max_tool_output_tokens`` tokens (counted)."""
        content = str(message.get("content", ""))
        limit = self.cfg.max_tool_output_tokens
        if len(content) <= limit:  # a token is at least one character
            return message
        # encode a prefix only: a 10k-character output costs as much as its first `limit` tokens
        ids = self.renderer.encode(content[: 8 * limit])
        if len(ids) <= limit and len(content) > 8 * limit:
            ids = self.renderer.encode(content)
        if len(ids) <= limit:
            return message
        ep.counts["overflow"] += 1
        cut = self.policy.tokenizer.decode(ids[:limit], skip_special_tokens=True)
        return {**message, "content": cut + " ...[truncated]"}

    # ---- batches ------------------------------------------------------------------------------
    def to_batch(self, episodes: list[Episode], num_generations: int) -> Batch:
        if self.cfg.context == "rebuild":
            return self._rows_batch(episodes)
        self.row_episode = None
        prompt_ids, prompt_mask = self._prompts
        pad = self.policy.pad_token_id
        width = max(len(ep.trajectory) for ep in episodes)
        n = len(episodes)
        ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        loss = torch.zeros((n, width), dtype=torch.long)
        logprobs = torch.zeros((n, width), dtype=torch.float32)
        turn_index = torch.full((n, width), -1, dtype=torch.long)
        for i, ep in enumerate(episodes):
            tr, k = ep.trajectory, len(ep.trajectory)
            ids[i, :k] = torch.tensor(tr.ids, dtype=torch.long)
            mask[i, :k] = 1
            loss[i, :k] = torch.tensor(tr.loss_mask, dtype=torch.long)
            logprobs[i, :k] = torch.tensor(tr.logprobs, dtype=torch.float32)
            turn_index[i, :k] = torch.tensor(tr.turn_index, dtype=torch.long)
        self.turn_index = turn_index
        return Batch(
            prompt_ids.repeat_interleave(num_generations, dim=0),
            prompt_mask.repeat_interleave(num_generations, dim=0),
            ids,
            mask,
            None if torch.equal(loss, mask) else loss,  # single-turn: exactly today's batch
            logprobs,
        )

    def _rows_batch(self, episodes: list[Episode]) -> Batch:
        """One batch row per (episode, row) of a rebuild run, each with its own prompt."""
        rows = [(e, tr) for e, ep in enumerate(episodes) for tr in ep.all_rows]
        self.row_episode = torch.tensor([e for e, _ in rows], dtype=torch.long)
        prompt_ids, prompt_mask = _left_pad([tr.prompt_ids for _, tr in rows], self.policy.pad_token_id)
        width = max(len(tr) for _, tr in rows)
        n = len(rows)
        ids = torch.full((n, width), self.policy.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        loss = torch.zeros((n, width), dtype=torch.long)
        logprobs = torch.zeros((n, width), dtype=torch.float32)
        turn_index = torch.full((n, width), -1, dtype=torch.long)
        for r, (_, tr) in enumerate(rows):
            k = len(tr)
            if k:
                ids[r, :k] = torch.tensor(tr.ids, dtype=torch.long)
                mask[r, :k] = 1
                loss[r, :k] = torch.tensor(tr.loss_mask, dtype=torch.long)
                logprobs[r, :k] = torch.tensor(tr.logprobs, dtype=torch.float32)
                turn_index[r, :k] = torch.tensor(tr.turn_index, dtype=torch.long)
        self.turn_index = turn_index
        return Batch(prompt_ids, prompt_mask, ids, mask, loss, logprobs)

    # ---- the trainer's hooks ------------------------------------------------------------------
    def generate_groups(self, metrics: dict) -> tuple[list[Any], Batch, torch.Tensor, Any, list[str]]:
        """OnlineRL.generate_groups for agent envs: (examples per row, batch, rewards, result, texts)."""
        from rewardlab.llm.base import score

        algo = self.algo
        cfg = algo.config
        G = cfg.num_generations
        if self.cfg.sft_steps and algo.global_step == 0 and not getattr(self, "_warm_started", False):
            from rewardlab.agents.sft import clone_oracle

            self._warm_started = True  # a resumed run (global_step > 0) already holds these weights
            metrics.update(
                clone_oracle(
                    self,
                    steps=self.cfg.sft_steps,
                    batch_size=self.cfg.sft_batch_size,
                    learning_rate=self.cfg.sft_learning_rate,
                    seed=self.seed,
                    micro_batch_size=cfg.micro_batch_size,
                )
            )
        # episode seeds follow the data stream position (saved state), so resume replays them
        start = algo.epoch * len(algo.train_examples) + algo.data_pos
        examples = algo.next_examples(cfg.batch_size)
        seeds = [self.seed * 1_000_003 + start + i for i in range(len(examples))]
        episodes = self.run(examples, num_generations=G, seeds=seeds, metrics=metrics)
        batch = self.to_batch(episodes, G)
        metrics["generated_tokens"] = metrics.get("generated_tokens", 0.0) + float(batch.trained_mask.sum())
        samples = [ep.sample() for ep in episodes]
        t0 = time.perf_counter()
        result = score(self.reward, samples)
        metrics["time/reward"] = metrics.get("time/reward", 0.0) + time.perf_counter() - t0
        metrics.update(episode_metrics(episodes))
        rewards = torch.tensor(np.asarray(result.total), dtype=torch.float32)
        algo._last_samples = samples
        self.clone_episodes = episodes  # thought cloning's states (see auxiliary_backward)
        texts = [ep.final_text if len(ep.turns) == 1 else ep.transcript() for ep in episodes]
        # rows for samples.jsonl: the prompt the episode started from (agent problems have none)
        repeated = [
            ep.example if ep.example.prompt is not None else dataclasses.replace(ep.example, prompt=ep.prompt)
            for ep in episodes
        ]
        return repeated, batch, rewards, result, texts

    def auxiliary_backward(self) -> dict[str, float]:
        """GTR's thought-cloning term on the last rollout's episodes (``thought_cloning_coef > 0``):
        backpropagated after the RL loss, before the optimizer step (rewardlab.agents.thought_cloning)."""
        coef = self.cfg.thought_cloning_coef
        episodes = getattr(self, "clone_episodes", None)
        if coef <= 0 or not episodes:
            return {}
        from rewardlab.agents.thought_cloning import clone_backward

        return clone_backward(self, episodes, coef, self.algo.config.micro_batch_size)

    def advantages(self, rewards: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Per row (B,) for ``episode`` credit, else per token (B, T); rebuild rows take their episode's."""
        rows = getattr(self, "row_episode", None)
        if self.cfg.advantage == "episode":
            adv = self.algo.compute_advantages(rewards)
            return adv if rows is None else adv[rows]
        turns = self.turn_advantages(rewards)
        if rows is not None:
            turns = [turns[e] for e in rows.tolist()]
        return per_token(turns, self.turn_index)

    def turn_advantages(self, rewards: torch.Tensor) -> list[list[float]]:
        """Per-turn advantages of ``self.last_episodes`` under the configured credit rule."""
        episodes, G, cfg = self.last_episodes, self.algo.config.num_generations, self.cfg
        turn_rewards = [ep.turn_rewards for ep in episodes]
        if cfg.advantage == "return_to_go":
            return return_to_go_advantages(turn_rewards, rewards.tolist(), G, cfg.gamma)
        episode_adv = self.algo.compute_advantages(rewards).tolist()
        if cfg.advantage == "mt_grpo":
            return mt_grpo_advantages(turn_rewards, episode_adv, G, cfg.credit_coef)
        if cfg.advantage == "gigpo":
            return gigpo_advantages(
                turn_rewards,
                rewards.tolist(),
                [ep.state_keys for ep in episodes],
                episode_adv,
                G,
                gamma=cfg.gamma,
                coef=cfg.credit_coef,
                step_std=cfg.gigpo_step_std,
            )
        raise ConfigError(f"[agent] advantage {cfg.advantage!r} is not one of {', '.join(ADVANTAGES)}")

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluate(
        self, split: str = "test", limit: int | None = None, batch_size: int = 32, actor: Any = None
    ) -> dict[str, Any]:
        """Greedy episodes on ``split``: mean return, accuracy (full marks), success rate, tool metrics."""
        return evaluate_episodes(self, split=split, limit=limit, batch_size=batch_size, actor=actor)


def evaluate_episodes(
    loop: AgentLoop,
    *,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 32,
    num_samples: int = 5,
    actor: Any = None,
) -> dict[str, Any]:
    from rewardlab.llm.base import score

    examples = list(loop.task.examples(split))
    if limit is not None and limit > 0:
        examples = examples[:limit]
    if not examples:
        raise RewardlabError(f"env {loop.env_name!r} split {split!r} has no problems")
    start = time.perf_counter()
    totals: list[float] = []
    all_eps: list[Episode] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        seeds = [10_000_019 + i + j for j in range(len(chunk))]  # fixed: every run sees the same episodes
        eps = loop.run(chunk, num_generations=1, seeds=seeds, greedy=True, actor=actor)
        result = score(loop.reward, [ep.sample() for ep in eps])
        totals += [float(v) for v in result.total]
        all_eps += eps
    arr = np.asarray(totals)
    full = getattr(loop.reward, "maximum", 1.0)
    out: dict[str, Any] = {
        "mean_return": float(arr.mean()),
        "std_return": float(arr.std()),
        "episodes": len(arr),
        "accuracy": float(np.mean(arr >= full)) if np.isfinite(full) else float("nan"),
        "split": split,
        "task": loop.env_name,
        "seconds": time.perf_counter() - start,
    }
    success = [ep.info.get("success") for ep in all_eps]
    if any(s is not None for s in success):
        out["success_rate"] = float(np.mean([bool(s) for s in success]))
    out.update(episode_metrics(all_eps))
    out["samples"] = [
        {"prompt": str(ep.prompt)[:500], "transcript": ep.transcript(), "reward": t}
        for ep, t in zip(all_eps[:num_samples], totals)
    ]
    return out


def episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """The per-step agent metrics (see the package docstring)."""
    n = max(len(episodes), 1)
    turns = sum(len(ep.turns) for ep in episodes)
    calls = sum(ep.counts.get("calls", 0) for ep in episodes)
    stream = sum(len(tr) for ep in episodes for tr in ep.all_rows)
    return {
        "tools/calls_per_episode": calls / n,
        "tools/malformed_rate": sum(ep.counts.get("malformed", 0) for ep in episodes) / max(turns, 1),
        "tools/error_rate": sum(ep.counts.get("errors", 0) for ep in episodes) / calls if calls else 0.0,
        "tools/overflow": float(sum(ep.counts.get("overflow", 0) for ep in episodes)),
        "turns/mean": turns / n,
        "episodes/truncated_rate": sum(ep.truncated for ep in episodes) / n,
        "tokens/env_fraction": sum(tr.env_tokens for ep in episodes for tr in ep.all_rows) / max(stream, 1),
        "tokens/rows_per_episode": sum(len(ep.all_rows) for ep in episodes) / n,
        "tokens/drift_tokens": float(sum(ep.drift_tokens for ep in episodes)),
    }


def evaluate_agent_model(
    policy: Any, task: Any, *, split: str, limit: int | None, max_new_tokens: int, **agent
):
    """``rewardlab eval MODEL --task ENV``: greedy episodes of a base model on an agent env."""
    loop = AgentLoop(
        policy, task, task.reward(), AgentConfig.from_dict(agent), max_completion_length=max_new_tokens
    )
    try:
        return loop.evaluate(split=split, limit=limit)
    finally:
        loop.close()


def scripted_policy(tokenizer: Any = None, **settings: Any) -> Any:
    """A Policy without a model, for scripted actors: only its tokenizer and prompt encoding are used
    (default tokenizer: the character tokenizer of ``tiny-random-llama``)."""
    from rewardlab.llm.policy import Policy, PolicyConfig

    if tokenizer is None:
        from rewardlab.llm.tiny import char_tokenizer

        tokenizer = char_tokenizer()
    cfg = PolicyConfig(model="scripted", lora_r=0, num_threads=1, max_prompt_length=8192, **settings)
    return Policy(None, tokenizer, cfg)


def oracle_actor(episodes: list[Episode], envs: list[ChatEnv]) -> list[str]:
    """The env's own expert (``env.oracle``) as a scripted actor."""
    return [env.oracle(ep.messages, ep.info) for ep, env in zip(episodes, envs)]


def run_oracle(
    name: str,
    *,
    split: str = "test",
    limit: int | None = 50,
    seed: int = 0,
    tokenizer: Any = None,
    max_episode_tokens: int = 4096,
    agent: dict | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Score env ``name``'s oracle policy with the env's default reward (1.0 = env and reward agree
    with the expert). ``rewardlab eval oracle --task NAME --json``."""
    from rewardlab import agents

    task = agents.make(name, seed=seed, **params)
    table = {"max_episode_tokens": max_episode_tokens, **(agent or {})}
    loop = AgentLoop(
        scripted_policy(tokenizer),
        task,
        task.reward(),
        AgentConfig.from_dict(table),
        max_completion_length=max_episode_tokens,
    )
    try:
        out = loop.evaluate(split=split, limit=limit, actor=oracle_actor)
    finally:
        loop.close()
    out["model"] = "oracle"
    return out


__all__ = [
    "AgentConfig",
    "AgentLoop",
    "episode_metrics",
    "evaluate_agent_model",
    "evaluate_episodes",
    "oracle_actor",
    "run_oracle",
    "scripted_policy",
]
