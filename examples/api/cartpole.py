"""PPO on CartPole-v1 from Python: train, read the metrics, load the agent, act with it.

    python examples/api/cartpole.py

The same run from the shell: ``rewardlab train ppo --config examples/ppo_cartpole.toml``.
"""

from pathlib import Path

import gymnasium as gym

import rewardlab

CONFIG = Path(__file__).resolve().parents[1] / "ppo_cartpole.toml"


def main(total_steps: int = 100_000, out: str = "runs/api-cartpole", **overrides) -> float:
    # config: a TOML file, a dict or a config dataclass; keyword overrides come last
    run = rewardlab.train("ppo", config=CONFIG, total_steps=total_steps, out=out, **overrides)
    print(
        f"{len(run.metrics)} iterations, last episode_return_mean {run.metrics[-1]['episode_return_mean']:.1f}"
    )
    print(f"evaluation: {run.eval['mean_return']:.1f} +- {run.eval['std_return']:.1f}")

    agent = rewardlab.load(run.dir)  # the newest checkpoint
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        action, _ = agent.predict(obs, deterministic=True)  # as Stable-Baselines3 returns it
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    agent.close()
    print(f"one more episode with the loaded agent: {total:.0f}")
    return total


if __name__ == "__main__":
    main()
