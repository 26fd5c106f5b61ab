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


def test_the_examples_prompt_counts_only_the_turns_first_block_of_calls():
    from rewardlab import agents
    from rewardlab.agents.rollout import AgentConfig, AgentLoop, oracle_actor, scripted_policy

    POOL.close()
    env_task = agents.make("miniwob", task="enter-text", prompt="examples", num_test=2)
    loop = AgentLoop(
        scripted_policy(), env_task, env_task.reward(), AgentConfig(), max_completion_length=4096
    )

    def block_then_invented_page(episodes, envs):
        # the whole solution in one block (type, then Submit), then the kind of next page a base
        # model invents; its click(1) must not run
        texts = []
        for ep, env in zip(episodes, envs):
            first = oracle_actor([ep], [env])[0]
            field = int(first.split("(")[1].split(",")[0])
            submit = next(
                int(e["ref"]) for e in env.page["dom_elements"] if str(e["text"]).strip() == "Submit"
            )
            texts.append(f'{first}\nclick({submit})\n\nTask: Click on the "Ok" button.\nActions:\nclick(1)')
            assert first.startswith("type(") and field != submit
        return texts

    eps = loop.run(env_task.examples("test"), num_generations=1, seeds=[0, 1], actor=block_then_invented_page)
    loop.close()
    prompt = eps[0].messages[0]["content"]
    assert prompt.startswith('Task: Click on the "No" button.') and prompt.endswith("Actions:\n")
    assert all(ep.info["success"] and len(ep.turns) == 1 and ep.counts["calls"] == 2 for ep in eps)
    assert [float(r) for r in loop.reward([ep.sample() for ep in eps])] == [1.0, 1.0]
    with pytest.raises(Exception, match="prompt 'chat' is not one of tools, examples"):
        agents.make("miniwob", prompt="chat")
