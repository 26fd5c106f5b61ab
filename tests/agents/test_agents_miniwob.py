"""``miniwob``: real MiniWoB++ pages in headless Chromium (skipped, saying why, without the browser)."""

import os

import pytest

from rewardlab.agents.envs.miniwob import POOL, unavailable_reason

why = unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(why is not None, reason=f"miniwob cannot run here: {why}")]


def _driver_pid(env):
    return env.unwrapped.instance.driver.service.process.pid


def _gone(pid):
    return not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def _run(task, shaping=False, n=2, rounds=1):
    from rewardlab import agents
    from rewardlab.agents.rollout import AgentConfig, AgentLoop, oracle_actor, scripted_policy

    env_task = agents.make("miniwob", task=task, shaping=shaping, num_test=n)
    loop = AgentLoop(
        scripted_policy(), env_task, env_task.reward(), AgentConfig(), max_completion_length=4096
    )
    pids = []

    def actor(episodes, envs):
        pids.extend(p for p in (_driver_pid(e.env) for e in envs) if p not in pids)
        return oracle_actor(episodes, envs)

    runs = [
        loop.run(env_task.examples("test"), num_generations=1, seeds=list(range(n)), actor=actor)
        for _ in range(rounds)
    ]
    return loop, runs, pids


@pytest.mark.parametrize("task", ["click-button", "enter-text"])
def test_the_oracle_solves_real_pages_on_reused_browsers_and_none_outlives_the_loop(task):
    POOL.close()
    started = POOL.started
    loop, (eps, again), pids = _run(task, rounds=2)
    for run in (eps, again):
        assert [float(r) for r in loop.reward([ep.sample() for ep in run])] == [1.0, 1.0]
        assert all(ep.info["success"] and ep.drift_tokens == 0 for ep in run)
    assert "Task: " in eps[0].messages[0]["content"] and "click(ref)" in eps[0].messages[0]["content"]
    # the second round ran on the first round's browsers: two started, not four
    assert len(pids) == 2 and POOL.started - started == 2
    # a reused browser shows the very page a fresh one showed for the same seed
    assert [ep.messages for ep in again] == [ep.messages for ep in eps]
    assert not any(_gone(pid) for pid in pids)  # idle in the pool between episodes
    loop.close()  # the end of a run: every browser (and its chromedriver) is quit
    assert all(_gone(pid) for pid in pids) and not POOL.live


def test_a_browser_whose_page_raised_is_quit_not_reused():
    from rewardlab import agents

    POOL.close()
    env = agents.make("miniwob", task="click-button").make_env()
    env.reset(seed=3)
    pid = _driver_pid(env.env)
    env.broken = True  # as after a step that raised inside Selenium
    env.close()
    assert _gone(pid) and not POOL.live


def test_qweb_potential_shaping_telescopes_to_the_unshaped_return():
    loop, ((ep,),), _ = _run("enter-text", shaping=True, n=1)
    loop.close()
    # typing the quoted text raises the potential 0 -> 1 (+1); the page's success (+1) ends the
    # episode, where the potential is 0 again (-1): same return as without shaping
    assert ep.turn_rewards == [1.0, 0.0] and sum(ep.turn_rewards) == 1.0
