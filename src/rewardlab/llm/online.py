"""The online loop GRPO and RLOO share: sample G completions per prompt, score them, update.

Subclasses supply the advantage estimator and the micro-batch loss (``grpo.py``, ``rloo.py``);
everything else (prompt order, sampling, rewards, reference/old log-probs, micro-batching,
``num_iterations`` reuse of a batch, metrics, checkpoint state) lives here once.
Token-level methods (``lm_ppo.py``, ``reinforce_pp.py``) use four more seams: ``rollout_logprobs``
(PPO adds its values from the same no-grad forward), ``rollout_advantages`` (per-token advantages
plus per-row tensors kept in ``Rollout.extras``), ``updates_per_rollout`` / ``update_rows`` (PPO's
minibatches) and ``micro_batch_step`` (PPO's forward that also reads the value head).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from rewardlab.config import bounds
from rewardlab.core.state import ARRAY, OBJECT, VALUE
from rewardlab.errors import ConfigError
from rewardlab.llm.base import LMAlgorithm, LMTrainConfig, score
from rewardlab.llm.policy import Batch


@dataclass
class OnlineConfig(LMTrainConfig):
    """Sampling and batch settings of GRPO / RLOO. Defaults: TRL 1.16.0 (GRPOConfig) unless noted."""

    env: str = "arithmetic"  # the task (rewardlab.tasks) prompts and rewards come from
    task_params: dict = field(default_factory=dict)  # passed to the task, e.g. {digits = 2, ops = "+-"}
    # prompts per step. TRL counts completions instead (per_device_train_batch_size 8 = 1 prompt x G 8);
    # 4 prompts is the calibration in docs/calibration.md
    batch_size: int = 4
    num_generations: int = 8  # G completions per prompt
    num_iterations: int = 1  # mu: optimizer steps on each generation batch
    max_completion_length: int = 256  # TRL GRPOConfig: 512; halved so the default fits a 24 GB laptop
    temperature: float = 1.0  # TRL GRPOConfig.temperature
    top_p: float = 1.0  # TRL GRPOConfig.top_p (top_k 0: no top-k truncation, as TRL)
    beta: float = 0.0  # KL weight; > 0 computes reference log-probs
    # run each prompt through the model once per group (its key/value cache repeated for the G
    # completions) when sampling and when scoring log-probs; same numbers up to float rounding
    share_prompt: bool = True
    # Reward-hacking monitor (Correlated Proxies, 2024; rewardlab.rewards.diagnostics.HackingMonitor):
    # a registered reward name scored on the same completions as a held-out "true" reward; the run
    # log warns when its correlation with the training reward over the last `hacking_window` steps
    # falls below `hacking_min_correlation`, or when the training reward rises while it falls.
    true_reward: str = ""  # "" = no monitor
    # A reward call that takes longer than reward_timeout_s is stopped: a named error, or with the
    # reward's on_error="zero" a counted failure (never a silent zero, never a hang). Slow rewards
    # (code_tests, reward models, judges) can be scored in a pool of worker processes ("local") or
    # Ray tasks ("ray"), in input order (rewards/pool.py); 0 workers = score in the trainer, where the
    # limit stops pure-Python hangs from any thread (rewards/base.py, Reward.timeout_s).
    reward_timeout_s: float = 60.0
    reward_workers: int = 0
    reward_backend: str = "local"
    hacking_window: int = 10
    hacking_min_correlation: float = 0.5
    # the divergence warning needs the two per-step slopes beyond this margin (0: any opposite trend,
    # which a flat, noisy true reward gives half the time while the proxy climbs)
    hacking_min_slope: float = field(default=0.0, metadata=bounds(ge=0))
    # A reward model that keeps learning (rewards/learned/online_preferences.py): a reward name or path
    # that labels each batch; within a group, completions whose labels differ give preference pairs
    # the reward model (`reward`, a reward-model run or saved directory) trains on. "" = it stays frozen.
    reward_labeller: str = ""
    # reward-model optimizer steps per generation batch; newest preference pairs kept to train on;
    # the labelling budget: at most this many new pairs a batch (0 = all)
    reward_updates_per_step: int = field(default=1, metadata=bounds(ge=1))
    reward_buffer_size: int = field(default=1024, metadata=bounds(ge=1))
    reward_pairs_per_step: int = field(default=0, metadata=bounds(ge=0))
    reward_update_order: str = "after_score"  # "before_score": train on the batch's labels, then score it
    # Multi-turn agents (rewardlab.agents.AgentConfig keys: action_format, max_turns, advantage, ...).
    # Used when `env` names an agent env (`rewardlab list envs`); a non-empty table also runs a
    # single-turn task through the agent loop as its 1-turn case.
    agent: dict = field(default_factory=dict)
    #: the fewest completions per prompt the algorithm can learn from (group baselines need 2;
    #: token-level PPO and REINFORCE++ set 1)
    min_generations: ClassVar[int] = 2

    def validate(self) -> None:
        super().validate()
        if self.num_generations < self.min_generations:
            from rewardlab.llm.combinations import single_sample_algorithms

            raise ConfigError(
                f"num_generations must be >= {self.min_generations} (a group needs a baseline), got "
                f"{self.num_generations}; algorithms that train on one completion per prompt: "
                f"{', '.join(single_sample_algorithms())}"
            )
        from rewardlab.rewards.learned.base import UPDATE_ORDERS

        if self.reward_update_order not in UPDATE_ORDERS:
            raise ConfigError(
                f"reward_update_order {self.reward_update_order!r} is not one of {', '.join(UPDATE_ORDERS)}"
            )
        for key in ("batch_size", "num_iterations", "max_completion_length"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass
class Rollout:
    """One generation batch ready for ``num_iterations`` optimizer steps."""

    batch: Batch
    advantages: torch.Tensor  # (B,)
    old_logprobs: torch.Tensor | None  # (B, T); None = on-policy (ratio exp(logp - logp.detach()))
    ref_logprobs: torch.Tensor | None  # (B, T); None when beta == 0
    metrics: dict[str, float]
    uses: int = 0
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # per-row tensors (PPO: values, returns)


class OnlineRL(LMAlgorithm):
    """GRPO-style online training. Subclasses implement :meth:`compute_advantages` and
    :meth:`micro_batch_loss`; they may override :meth:`shape_rewards` and :meth:`keep_groups`."""

    config: OnlineConfig
    state_fields = {"data_order": ARRAY, "data_pos": VALUE, "epoch": VALUE, "rollout": VALUE, "hacking": VALUE,
                    "_hacking_warnings": VALUE, "reward_learner": OBJECT}  # fmt: skip
    # _last_samples: the current batch's samples, written and read within one step
    rebuilt_fields = (
        "train_examples",
        "true_reward",
        "reward_pool",
        "agent_loop",
        "memory_estimate",
        "_last_samples",
    )
    #: how many extra generation batches dynamic sampling may draw to fill a batch
    max_resample_batches = 3
    #: per-token log-probs carry a second column, the vocabulary mean of log pi at that position
    #: (shape (B, T, 2)); ROVER's target needs it for every state, sampled token or not
    vocab_mean_logprobs = False

    def __init__(self, config: OnlineConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if self.task is None or self.reward is None:
            raise ConfigError("online RL needs a task: set env to a task name (see `rewardlab list tasks`)")
        self.train_examples = list(self.task.examples("train"))
        if not self.train_examples:
            raise ConfigError(f"task {config.env!r} has no training examples")
        self.data_order = self.np_rng.permutation(len(self.train_examples))
        self.data_pos = 0
        self.epoch = 0
        self.rollout: Rollout | None = None
        self.policy.check_context(config.max_completion_length)
        if config.beta != 0.0:
            self.policy.freeze_reference()  # before any update: the reference is the initial policy
        self.reward_pool = None
        if not config.reward_workers:
            from rewardlab.rewards.base import Reward, set_timeout

            if isinstance(self.reward, Reward):
                set_timeout(self.reward, config.reward_timeout_s)  # rewards that have no limit of their own
        else:
            from rewardlab.rewards.pool import RewardPool

            self.reward_pool = RewardPool(
                self.reward,
                config.reward_workers,
                timeout_s=config.reward_timeout_s,
                backend=config.reward_backend,
                ray_address=config.ray_address,
                ray_num_cpus=config.ray_num_cpus,
            )
        self.true_reward = None
        self.hacking = None
        self._hacking_warnings: list[str] = []
        if config.true_reward:
            from rewardlab.rewards.diagnostics import HackingMonitor
            from rewardlab.tasks.base import build_reward

            self.true_reward = build_reward(config.true_reward)
            self.hacking = HackingMonitor(
                window=config.hacking_window,
                min_correlation=config.hacking_min_correlation,
                min_slope=config.hacking_min_slope,
                proxy_name=getattr(self.reward, "name", "reward"),
                true_name=f"true:{config.true_reward}",
            )
        self.agent_loop = None
        if config.agent or hasattr(self.task, "make_env"):
            from rewardlab.agents.rollout import AgentLoop

            self.agent_loop = AgentLoop.for_algorithm(self)
        self.reward_learner = None
        if config.reward_labeller:
            self.reward_learner = self.online_reward_model(config)
        self.memory_estimate = self.policy.memory_check(
            sequences_per_pass=min(config.micro_batch_size, config.batch_size * config.num_generations),
            completion_length=config.max_completion_length,
            reference_copy=config.beta != 0.0 and not self.policy.lora,
            knob="micro_batch_size (sequences per forward/backward), max_completion_length or max_prompt_length",
        )

    def online_reward_model(self, config: OnlineConfig) -> Any:
        """The reward model's online learner (``reward_labeller`` set); refuses the set-ups it cannot serve."""
        from rewardlab.rewards.learned.online_preferences import OnlinePreferences
        from rewardlab.tasks.base import build_reward

        if self.reward_pool is not None:
            raise ConfigError(
                "reward_labeller: a reward model that learns online is scored in the trainer, where it trains; "
                "set reward_workers = 0"
            )
        if self.agent_loop is not None:
            raise ConfigError(
                "reward_labeller: online reward learning takes single-turn tasks, not agent episodes"
            )
        return OnlinePreferences(
            self.reward,
            build_reward(config.reward_labeller),
            updates_per_step=config.reward_updates_per_step,
            buffer_size=config.reward_buffer_size,
            pairs_per_step=config.reward_pairs_per_step,
        )

    # ---- hooks --------------------------------------------------------------------------------
    def compute_advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def micro_batch_loss(self, logprobs, old_logprobs, ref_logprobs, advantages, mask, num_tokens, num_micro):
        """Return ``(loss to backpropagate, LossOutput)`` for one micro-batch."""
        raise NotImplementedError

    def shape_rewards(self, rewards: torch.Tensor, lengths: torch.Tensor, metrics: dict) -> torch.Tensor:
        return rewards

    def keep_groups(self, rewards: torch.Tensor) -> torch.Tensor | None:
        """Boolean mask over groups to train on (None = all)."""
        return None

    def adjust_rewards(self, rewards: torch.Tensor, rollout_parts: dict, metrics: dict) -> torch.Tensor:
        """Last change to rewards before advantages (RLOO subtracts its KL penalty here)."""
        return rewards

    def rollout_logprobs(self, batch: Batch) -> dict[str, torch.Tensor | None]:
        """No-grad tensors of a fresh batch: ``old`` (sampling policy) and ``ref`` log-probs, each
        None when unused. Token-level PPO adds its value estimates from the same forward."""
        cfg = self.config
        need_old = cfg.num_iterations > 1 or self.needs_old_logprobs()
        return {
            "old": self.no_grad_logprobs(batch, reference=False) if need_old else None,
            "ref": self.no_grad_logprobs(batch, reference=True) if cfg.beta != 0.0 else None,
        }

    def rollout_advantages(
        self, rewards: torch.Tensor, parts: dict, metrics: dict
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(advantages (B,) or (B, T), extra per-row tensors kept in the Rollout)``."""
        if self.agent_loop is not None:
            return self.agent_loop.advantages(rewards, parts["batch"]), {}  # (B,) or per token (B, T)
        return self.compute_advantages(rewards), {}

    def updates_per_rollout(self) -> int:
        """Optimizer steps taken on one generation batch before a new one is sampled."""
        return self.config.num_iterations

    def update_rows(self, rollout: Rollout) -> slice:
        """The rows of the rollout this optimizer step trains on (all of them; PPO: a minibatch)."""
        return slice(0, len(rollout.batch))

    # ---- data ---------------------------------------------------------------------------------
    def next_examples(self, n: int) -> list[Any]:
        out = []
        while len(out) < n:
            if self.data_pos >= len(self.data_order):
                self.data_order = self.np_rng.permutation(len(self.train_examples))
                self.data_pos = 0
                self.epoch += 1
            out.append(self.train_examples[int(self.data_order[self.data_pos])])
            self.data_pos += 1
        return out

    # ---- collection ---------------------------------------------------------------------------
    def generate_groups(self, metrics: dict) -> tuple[list[Any], Batch, torch.Tensor, Any, list[str]]:
        from rewardlab.rewards.base import Sample

        cfg = self.config
        G = cfg.num_generations
        if self.agent_loop is not None:  # multi-turn episodes through rewardlab.agents
            return self.agent_loop.generate_groups(metrics)
        examples = self.next_examples(cfg.batch_size)
        prompt_ids, prompt_mask = self.policy.encode_prompts([ex.prompt for ex in examples])
        start = time.perf_counter()
        batch = self.policy.generate(
            prompt_ids,
            prompt_mask,
            num_generations=G,
            max_new_tokens=cfg.max_completion_length,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
        )
        metrics["time/generate"] = metrics.get("time/generate", 0.0) + time.perf_counter() - start
        metrics["generated_tokens"] = metrics.get("generated_tokens", 0.0) + float(
            batch.completion_mask.sum()
        )
        texts = self.policy.decode(batch)
        repeated = [ex for ex in examples for _ in range(G)]
        samples = [
            Sample(
                prompt=ex.prompt,
                completion=t,
                reference=ex.reference,
                info=dict(ex.info),
                completion_ids=ids,
                group=i // G,  # a GroupReward (SRPO) scores each prompt's G completions together
            )
            for i, (ex, t, ids) in enumerate(zip(repeated, texts, _completion_id_lists(batch)))
        ]
        learner = self.reward_learner
        if learner is not None and cfg.reward_update_order == "before_score":
            metrics.update(learner.observe(samples, G))
        start = time.perf_counter()
        result = score(self.reward_pool or self.reward, samples)
        metrics["time/reward"] = metrics.get("time/reward", 0.0) + time.perf_counter() - start
        if learner is not None and cfg.reward_update_order == "after_score":
            metrics.update(learner.observe(samples, G))
        rewards = torch.tensor(np.asarray(result.total), dtype=torch.float32, device=self.policy.device)
        self._last_samples = samples
        return repeated, batch, rewards, result, texts

    def monitor_hacking(self, proxy: np.ndarray, metrics: dict) -> None:
        """Score the held-out true reward on this batch and feed the hacking monitor."""
        true = np.asarray(score(self.true_reward, self._last_samples).total, dtype=np.float64)
        metrics["true_reward"] = float(true.mean())
        for warning in self.hacking.update(self.global_step, proxy, true):
            self._hacking_warnings.append(str(warning))
        # a window whose rewards are all equal has no correlation (NaN): leave it out of the log
        metrics.update({k: v for k, v in self.hacking.metrics().items() if np.isfinite(v)})

    def collect(self) -> Rollout:
        cfg = self.config
        G = cfg.num_generations
        metrics: dict[str, float] = {}
        repeated, batch, rewards, result, texts = self.generate_groups(metrics)
        self._record_samples(repeated, texts, result)
        metrics.update({k: v for k, v in result.metrics("reward/").items()})
        metrics["reward"] = float(rewards.mean())
        if self.hacking is not None:
            self.monitor_hacking(np.asarray(result.total, dtype=np.float64), metrics)
        grouped = rewards.view(-1, G)
        metrics["reward_std"] = float(rewards.std()) if rewards.numel() > 1 else 0.0
        if G > 1:
            metrics["frac_reward_zero_std"] = float(
                torch.isclose(grouped.std(1), torch.zeros(())).float().mean()
            )
        lengths = batch.completion_mask.sum(1)
        metrics["completion_length"] = float(lengths.float().mean())
        eos = self.policy.eos_token_id
        ended = (
            (batch.completion_ids == eos).any(1)
            if eos is not None
            else torch.zeros(len(batch), dtype=torch.bool)
        )
        metrics["clipped_ratio"] = float((~ended).float().mean())  # completions that hit max length

        keep = self.keep_groups(rewards)
        if keep is not None:
            # DAPO dynamic sampling: draw more batches until batch_size informative groups or give up
            tries = 0
            parts = [(batch, rewards, keep)]
            while (
                int(sum(int(k.sum()) for _, _, k in parts)) < cfg.batch_size
                and tries < self.max_resample_batches
            ):
                tries += 1
                _, b2, r2, _, _ = self.generate_groups(metrics)
                parts.append((b2, r2, self.keep_groups(r2)))
            kept_b, kept_r = [], []
            for b, r, k in parts:
                rows = k.repeat_interleave(G)
                if rows.any():
                    kept_b.append(b.rows(rows))
                    kept_r.append(r[rows])
            metrics["dynamic_sampling/kept_groups"] = float(sum(int(k.sum()) for _, _, k in parts))
            metrics["dynamic_sampling/batches"] = float(len(parts))
            if kept_b:
                batch = _concat_batches(kept_b, self.policy.pad_token_id)
                rewards = torch.cat(kept_r)
                lengths = batch.completion_mask.sum(1)

        rewards = self.shape_rewards(rewards, lengths, metrics)
        parts = {"batch": batch, **self.rollout_logprobs(batch)}
        rewards = self.adjust_rewards(rewards, parts, metrics)
        advantages, extras = self.rollout_advantages(rewards, parts, metrics)
        metrics["advantage_abs_mean"] = float(advantages.abs().mean())
        return Rollout(batch, advantages, parts["old"], parts["ref"], metrics, extras=extras)

    def needs_old_logprobs(self) -> bool:
        return False

    def micro_batch_step(self, ro: Rollout, rows: slice, mb: Batch, num_tokens: torch.Tensor, num_micro: int):
        """``(loss to backpropagate, LossOutput)`` of the rollout's ``rows`` (``mb``: those rows,
        trimmed): the policy's forward, then :meth:`micro_batch_loss`."""
        width = mb.completion_ids.shape[1]
        logprobs = self.policy.logprobs(
            mb, self.config.temperature, group_size=self.group_size(), vocab_mean=self.vocab_mean_logprobs
        )
        old = ro.old_logprobs[rows][:, :width] if ro.old_logprobs is not None else None
        ref = ro.ref_logprobs[rows][:, :width] if ro.ref_logprobs is not None else None
        adv = ro.advantages[rows]
        if adv.dim() == 2:  # per-token advantages (multi-turn credit)
            adv = adv[:, :width]
        return self.micro_batch_loss(logprobs, old, ref, adv, mb.trained_mask, num_tokens, num_micro)

    @torch.no_grad()
    def no_grad_logprobs(self, batch: Batch, reference: bool) -> torch.Tensor:
        out = []
        for rows in self.micro_slices(len(batch)):
            mb = _trim(batch.rows(rows))
            lp = self.policy.logprobs(
                mb,
                self.config.temperature,
                reference=reference,
                group_size=self.group_size(),
                vocab_mean=self.vocab_mean_logprobs,
            )
            out.append(_pad_right(lp, batch.completion_ids.shape[1]))
        return torch.cat(out)

    def group_size(self) -> int:
        return self.config.num_generations if self.config.share_prompt else 1

    def micro_slices(self, n: int) -> list[slice]:
        """Row ranges of at most micro_batch_size rows (whole groups when prompts are shared)."""
        m = self.config.micro_batch_size
        g = self.group_size()
        if g > 1:
            m = max(g, m // g * g)
        return [slice(i, min(i + m, n)) for i in range(0, n, m)]

    # ---- one iteration ------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        if self.rollout is None or self.rollout.uses >= self.updates_per_rollout():
            self.rollout = self.collect()
        ro = self.rollout
        # rollout statistics on every step of its mu reuses (its sampling time only on the first)
        metrics = (
            dict(ro.metrics)
            if ro.uses == 0
            else {
                k: v for k, v in ro.metrics.items() if not k.startswith("time/") and k != "generated_tokens"
            }
        )
        self.policy.model.train()
        batch = ro.batch
        update = self.update_rows(ro)
        num_tokens = batch.trained_mask[update].sum().float()
        slices = [
            slice(update.start + s.start, update.start + s.stop)
            for s in self.micro_slices(update.stop - update.start)
        ]
        totals: dict[str, float] = {"loss": 0.0, "clip_low": 0.0, "clip_high": 0.0, "clip_fraction": 0.0}
        t0 = time.perf_counter()
        for rows in slices:
            mb = _trim(batch.rows(rows))
            loss, out = self.micro_batch_step(ro, rows, mb, num_tokens, len(slices))
            loss.backward()
            share = float(mb.trained_mask.sum() / num_tokens.clamp(min=1))
            totals["loss"] += float(loss.detach())
            for f in dataclasses.fields(out):
                value = getattr(out, f.name)
                if f.name != "loss" and value is not None:
                    totals[f.name] = totals.get(f.name, 0.0) + float(value) * share
        if self.agent_loop is not None:  # e.g. GTR's thought-cloning term (rewardlab.agents)
            metrics.update(self.agent_loop.auxiliary_backward())
        metrics["time/update"] = time.perf_counter() - t0
        metrics["grad_norm"] = self.optimizer_step()
        ro.uses += 1
        metrics.update(totals)
        metrics["lr"] = self.current_lr()
        metrics["truncated_prompts"] = float(self.policy.truncated_prompts)
        elapsed = time.perf_counter() - start
        metrics["time/step"] = elapsed
        if "generated_tokens" in metrics:
            metrics["tokens_per_second"] = metrics["generated_tokens"] / max(metrics["time/generate"], 1e-9)
        metrics["num_threads"] = float(cfg.num_threads)
        metrics["epoch"] = float(self.epoch)
        return metrics

    def parameters_finite(self) -> str | None:
        """The policy's first non-finite parameter, else the online reward model's (the Run's NaN guard
        then stops naming the reward and keeps the last good checkpoint)."""
        bad = super().parameters_finite()
        if bad is None and self.reward_learner is not None:
            return self.reward_learner.model.non_finite()
        return bad

    def close(self) -> None:
        if self.reward_pool is not None:
            self.reward_pool.close()
        if self.agent_loop is not None:  # its env threads and shared env resources (browsers)
            self.agent_loop.close()

    # ---- evaluation (agent envs run whole episodes) --------------------------------------------
    def evaluate(self, episodes: int) -> dict[str, Any]:
        if self.agent_loop is not None:
            return self.agent_loop.evaluate(split="test", limit=episodes)
        return super().evaluate(episodes)

    def evaluate_task(self, split="test", limit=None, batch_size=50, task=None, task_params=None):
        if self.agent_loop is not None and task is None:
            return self.agent_loop.evaluate(split=split, limit=limit)
        return super().evaluate_task(split, limit, batch_size, task, task_params)

    def pop_warnings(self) -> list[str]:
        warnings, self._hacking_warnings = [*super().pop_warnings(), *self._hacking_warnings], []
        return warnings


def _completion_id_lists(batch: Batch) -> list[list[int]]:
    return [ids[mask.bool()].tolist() for ids, mask in zip(batch.completion_ids, batch.completion_mask)]


def _trim(batch: Batch) -> Batch:
    """Drop prompt columns that are padding in every row and completion columns past every end."""
    keep_p = batch.prompt_mask.any(0).nonzero()
    first = int(keep_p[0]) if len(keep_p) else batch.prompt_ids.shape[1] - 1
    keep_c = batch.completion_mask.any(0).nonzero()
    last = int(keep_c[-1]) + 1 if len(keep_c) else 1
    return Batch(
        batch.prompt_ids[:, first:],
        batch.prompt_mask[:, first:],
        batch.completion_ids[:, :last],
        batch.completion_mask[:, :last],
        None if batch.loss_mask is None else batch.loss_mask[:, :last],
    )


def _pad_right(x: torch.Tensor, width: int) -> torch.Tensor:
    """Pad dimension 1 (tokens) to ``width``; trailing dimensions (vocab_mean_logprobs) untouched."""
    if x.shape[1] == width:
        return x
    return torch.nn.functional.pad(x, (0, 0) * (x.dim() - 2) + (0, width - x.shape[1]))


def _concat_batches(batches: list[Batch], pad_id: int) -> Batch:
    """Stack batches whose prompt / completion widths differ (prompts re-padded on the left)."""
    pw = max(b.prompt_ids.shape[1] for b in batches)
    cw = max(b.completion_ids.shape[1] for b in batches)

    def left(x, w, v):
        return torch.nn.functional.pad(x, (w - x.shape[1], 0), value=v)

    def right(x, w, v):
        return torch.nn.functional.pad(x, (0, w - x.shape[1]), value=v)

    loss_mask = None
    if any(b.loss_mask is not None for b in batches):
        loss_mask = torch.cat([right(b.trained_mask, cw, 0) for b in batches])
    return Batch(
        torch.cat([left(b.prompt_ids, pw, pad_id) for b in batches]),
        torch.cat([left(b.prompt_mask, pw, 0) for b in batches]),
        torch.cat([right(b.completion_ids, cw, pad_id) for b in batches]),
        torch.cat([right(b.completion_mask, cw, 0) for b in batches]),
        loss_mask,
    )
