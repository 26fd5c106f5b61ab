"""``miniwob``: real MiniWoB++ pages in headless Chromium (skipped, saying why, without the browser)."""

import os

import pytest

from rewardlab.agents.envs.miniwob import unavailable_reason

why = unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(why is not None, reason=f"miniwob cannot run here: {why}")]


def _driver_pids(envs):
    return [e.env.unwrapped.instance.driver.service.process.pid for e in envs if e.env is not None]


def _run(task, shaping=False, n=2):
    from rewardlab import agents
    from rewardlab.agents.rollout import AgentConfig, AgentLoop, oracle_actor, scripted_policy

    env_task = agents.make("miniwob", task=task, shaping=shaping, num_test=n)
    loop = AgentLoop(
        scripted_policy(), env_task, env_task.reward(), AgentConfig(), max_completion_length=4096
    )
    pids = []

    def actor(episodes, envs):
        pids.extend(p for p in _driver_pids(envs) if p not in pids)
        return oracle_actor(episodes, envs)

    eps = loop.run(env_task.examples("test"), num_generations=1, seeds=list(range(n)), actor=actor)
    return loop, eps, pids


@pytest.mark.parametrize("task", ["click-button", "enter-text"])
def test_the_oracle_solves_real_pages_and_no_browser_outlives_its_episode(task):
    loop, eps, pids = _run(task)
    assert [float(r) for r in loop.reward([ep.sample() for ep in eps])] == [1.0, 1.0]
    assert all(ep.info["success"] and ep.drift_tokens == 0 for ep in eps)
    assert "Task: " in eps[0].messages[0]["content"] and "click(ref)" in eps[0].messages[0]["content"]
    assert len(pids) == 2
    for pid in pids:  # the loop closed every env: its chromedriver (and the browser under it) is gone
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_qweb_potential_shaping_telescopes_to_the_unshaped_return():
    _, eps, _ = _run("enter-text", shaping=True, n=1)
    (ep,) = eps
    # typing the quoted text raises the potential 0 -> 1 (+1); the page's success (+1) ends the
    # episode, where the potential is 0 again (-1): same return as without shaping
    assert ep.turn_rewards == [1.0, 0.0] and sum(ep.turn_rewards) == 1.0
