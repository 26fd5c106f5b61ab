"""Every shipped agent env: registered, seeded, its oracle succeeds, and its paper's reward rules hold."""

import json

import pytest

from rewardlab import agents, registry
from rewardlab.agents.actions import parse_action
from rewardlab.agents.envs.calc_tool import evaluate_expression
from rewardlab.agents.envs.empathy_user import bucket, emotion_change
from rewardlab.agents.envs.frame_select import frame_thinker_score
from rewardlab.agents.envs.mini_search import BM25, reseek_score
from rewardlab.agents.rollout import run_oracle
from rewardlab.agents.tools import ToolError
from rewardlab.errors import ConfigError

ENVS = [
    "lookup",
    "calc-tool",
    "points24",
    "empathy-user",
    "mini-search",
    "frame-select",
    "ask-grid",
    "mobile-gui",
]


def test_every_env_is_listed_by_the_registry():
    listed = registry.rewardlab_envs()
    for name in ENVS:
        assert listed[name] == agents.ENVS[name]
        assert registry.load(listed[name]).summary


@pytest.mark.parametrize("name", ENVS)
def test_the_oracle_succeeds_with_zero_drift_and_the_expected_return(name):
    out = run_oracle(name, limit=40)
    assert out["success_rate"] == 1.0 and out["tokens/drift_tokens"] == 0.0, out
    assert out["episodes/truncated_rate"] == 0.0 and out["tools/malformed_rate"] == 0.0
    task = agents.make(name)
    examples = task.examples("test")[:40]
    # the oracle's exact returns, derived by hand from each env's reward
    if name in (
        "lookup",
        "calc-tool",
        "empathy-user",
        "mobile-gui",
    ):  # empathy: 30 -> 60 -> 90 -> 100, goodbye at S
        expected = [1.0] * 40
    elif name == "mini-search":  # EM 1 + judge No on hop 1 (+0.4) + judge Yes on hop 2 (+0.4)
        expected = [1.8] * 40
    elif name == "frame-select":
        expected = [1.52 if ex.info["timed"] else 1.02 for ex in examples]
    elif name == "ask-grid":
        expected = [1.0 if ex.info["hint"] else 1.2 for ex in examples]
    else:  # points24: one format reward per formula token and '='
        from rewardlab.agents.envs.points24 import FACES, tokens_of
        from rewardlab.tasks.countdown import solve

        expected = [
            10 + 5 * (len(tokens_of(solve([FACES[c] for c in ex.info["cards"]], 24))) + 1) for ex in examples
        ]
    assert out["mean_return"] == pytest.approx(sum(expected) / 40)


@pytest.mark.parametrize("name", ENVS)
def test_reset_is_a_function_of_seed_and_task_and_splits_are_disjoint(name):
    task = agents.make(name)
    ex = task.examples("test")[0]
    a, b = task.make_env(), task.make_env()
    assert a.reset(seed=3, task=ex) == b.reset(seed=3, task=ex)
    train = {json.dumps(e.info, sort_keys=True) for e in task.examples("train")}
    test = {json.dumps(e.info, sort_keys=True) for e in task.examples("test")}
    if name not in ("empathy-user",):  # six hidden profiles: the user's replies vary by seed instead
        assert not train & test


def test_unknown_env_parameters_list_the_valid_ones():
    with pytest.raises(ConfigError, match="no parameter 'digits'.*valid parameters: digits_a, digits_b"):
        agents.make("calc-tool", digits=3)


def test_calculator_walks_the_ast_and_refuses_code():
    assert evaluate_expression("347 * 86") == 29842
    assert evaluate_expression("(2 + 3) ** 2 / 5") == 5
    for bad, why in [
        ("__import__('os')", "only numbers"),
        ("1/0", "division by zero"),
        ("9**9**9", "exponent"),
        ("2 +", "cannot parse"),
    ]:
        with pytest.raises(ToolError, match=why):
            evaluate_expression(bad)


def test_calc_tool_bonus_rewards_a_call_even_with_a_wrong_answer():
    task = agents.make("calc-tool", tool_bonus=0.1)
    from rewardlab.rewards.base import Sample

    r = task.reward()
    with_call = Sample(completion="<answer>1</answer>", reference="2", info={"tool_calls": 1})
    without = Sample(completion="<answer>2</answer>", reference="2", info={"tool_calls": 0})
    assert list(r([with_call, without])) == pytest.approx([0.1, 1.0])


def test_points24_rules():
    from rewardlab.agents.envs.points24 import FACES

    task = agents.make("points24")
    env = task.make_env()
    ex = next(e for e in task.examples("test") if "A" in e.info["cards"])
    env.reset(seed=0, task=ex)

    def act(token, keys=True):
        d = {"cards": env.cards, "formula": "", "thoughts": "", "action": token}
        if not keys:
            d.pop("thoughts")
        return env.step(parse_action(json.dumps(d), "json"))

    dealt = {FACES[c] for c in env.cards}
    missing = next(v for v in range(2, 11) if v not in dealt)
    out = act(str(missing))  # a card that was not dealt: -1 (+5 format), the episode goes on, a blank joins
    assert out.reward == -1 + 5 and not out.terminated and env.formula == [""]
    out = act("1", keys=False)  # the ace, without the thoughts key: valid, no format reward
    assert out.reward == 0.0 and not out.info["format"] and env.formula == ["", "1"]
    out = act("=")  # an incomplete formula at '=': -1 and the end
    assert out.terminated and out.reward == -1 + 5 and out.info["success"] is False
    env.reset(seed=0, task=ex)
    for _ in range(21):
        out = act("(")
    assert out.truncated and out.reward == -1 + 5  # a formula longer than 20 tokens
    # the corrector: a thought that does not name the solver's next token gets the corrected turn,
    # GTR's SFT label -- the oracle's JSON at the same state with the corrected thought
    env.reset(seed=0, task=ex)
    expert = json.loads(env.oracle([], {}))
    out = act(expert["action"])  # right action, empty thought: corrected
    fixed = json.loads(out.info["corrected_turn"])
    assert fixed == {**expert, "thoughts": out.info["corrected_thought"]}
    assert f"continues with '{expert['action']}'" in fixed["thoughts"]
    nxt = json.loads(env.oracle([], {}))
    good = {
        "cards": env.cards,
        "formula": nxt["formula"],
        "thoughts": nxt["thoughts"],
        "action": nxt["action"],
    }
    out = env.step(parse_action(json.dumps(good), "json"))
    assert "corrected_turn" not in out.info  # a right thought is not corrected


def test_empathy_rule_and_buckets():
    assert emotion_change("I'm sorry, I understand how the deadline weighs on you", "deadline") == 30
    assert emotion_change("just calm down", "deadline") == -25  # two dismissive phrases, and short
    assert [bucket(e) for e in (100, 70, 69, 40, 10, 9)] == ["S", "A", "B", "B", "C", "F"]
    task = agents.make("empathy-user")
    env = task.make_env()
    env.reset(seed=0, task=task.examples("test")[0])
    out = env.step(parse_action("just calm down, whatever", "hermes"))  # 30 - 3 x 10 = 0: F, goodbye
    assert out.terminated and out.info["emotion"] == 0 and out.info["bucket"] == "F"
    assert task.reward()([_sample(out.info)])[0] == 0.0  # max(emotion, 0) / 100


def _sample(env_info):
    from rewardlab.rewards.base import Sample

    return Sample(completion="", info={"env_info": env_info})


def test_reseek_score_by_hand():
    gold = "Ada Lovelace"
    t = "<information>a</information><judge>No</judge><information>Ada Lovelace</information><judge>Yes</judge>"
    assert reseek_score(t + "<answer>Ada Lovelace</answer>", gold) == pytest.approx(1 + 0.4 + 0.4)
    # wrong answer: useless info judged Yes -0.6, useful info judged No -0.3
    t2 = "<information>a</information><judge>Yes</judge><information>Ada Lovelace</information><judge>No</judge>"
    assert reseek_score(t2 + "<answer>Bob</answer>", gold) == pytest.approx(-0.9)
    assert reseek_score(t2, gold) == 0.0  # no answer: no judge terms either
    many = "<answer>x</answer>" * 5 + "<answer>Ada Lovelace</answer>"  # 12 tags > 10: EM counts 1/4
    assert reseek_score(many, gold) == 0.25


def test_bm25_ranks_the_document_with_the_rare_term_first():
    index = BM25(["the cat sat", "the dog sat", "a zebra ran"])
    assert index.search("zebra") == ["a zebra ran"]
    assert index.search("cat sat")[0] == "the cat sat"


def test_frame_thinker_rule_chain():
    n = 120
    choose = "<think>look at 40 52</think><action>choose frames between 40 and 52</action>"
    time_q = "<think>when?</think><action>get frame number at time 00:45</action>"
    answer = "<think>seen</think><action>output answer: red</action>"
    assert frame_thinker_score([time_q, choose, answer], "red", True, n) == pytest.approx(1.52)
    assert frame_thinker_score([choose, answer], "red", True, n) == pytest.approx(1.02)
    assert frame_thinker_score([time_q, choose, answer], "red", False, n) == pytest.approx(
        1.02
    )  # no timestamp
    assert frame_thinker_score([answer], "red", False, n) == 1.0
    assert frame_thinker_score([choose, answer], "blue", True, n) == 0.0  # wrong answer
    assert frame_thinker_score([choose, choose, answer], "red", True, n) == 0.0  # repeated range
    assert (
        frame_thinker_score(["<think>x</think>" + choose, answer], "red", True, n) == 0.0
    )  # 2 thinks, 1 action
    narrow = "<think>40 45</think><action>choose frames between 40 and 45</action>"
    assert frame_thinker_score([narrow, answer], "red", True, n) == 0.0  # b - a <= 8
    full = "<think>0 119</think><action>choose frames between 0 and 119</action>"
    assert frame_thinker_score([full, answer], "red", True, n) == 0.0  # the initial full range
    far = "<think>60 72</think><action>choose frames between 60 and 72</action>"
    assert frame_thinker_score([time_q, far, answer], "red", True, n) == 0.0  # must contain frame 45
    assert frame_thinker_score([time_q, time_q, choose, answer], "red", True, n) == 0.0  # repeated time
    assert frame_thinker_score([choose], "red", True, n) == 0.0  # no final answer


def test_ask_grid_rewards_useful_questions_and_penalises_needless_ones():
    task = agents.make("ask-grid")
    ambiguous = next(e for e in task.examples("test") if not e.info["hint"])
    clear = next(e for e in task.examples("test") if e.info["hint"])
    env = task.make_env()
    env.reset(seed=0, task=ambiguous)
    assert env.step(parse_action('ask("which colour?")', "call", env.tool_table())).reward == pytest.approx(
        0.2
    )
    assert env.step(parse_action('ask("which colour?")', "call", env.tool_table())).reward == pytest.approx(
        -0.2
    )
    env.reset(seed=0, task=clear)
    assert env.step(parse_action('ask("where is it?")', "call", env.tool_table())).reward == pytest.approx(
        -0.2
    )
    out = env.step(parse_action(f"pick({(env.target + 1) % 4})", "call", env.tool_table()))
    assert out.terminated and out.reward == 0.0 and out.info["success"] is False


def test_mobile_gui_popups_block_the_app_until_closed_and_stage_ii_scores_one_action():
    from rewardlab.agents.envs.mobile_gui import center

    task = agents.make("mobile-gui", popup_prob=0.0)
    env = task.make_env()
    env.reset(seed=0, task=task.examples("test")[0])
    env.popup = True  # as if a dialog had just opened
    click = '<think>t</think><answer>[{"action": "click", "coordinate": %s}]</answer>'
    install = center(env._element("Install"))
    out = env.step(parse_action(click % install, "hermes"))
    assert env.popup and env.screen == "home" and "Install the new version?" in out.observation[0]["content"]
    out = env.step(parse_action(click % center(env._element("Close")), "hermes"))
    assert not env.popup and env.screen == "home"
    first = env.goal["steps"][0][1]
    env.step(parse_action(click % center(env._element(first)), "hermes"))
    assert env.screen != "home" and env.progress == 1
    out = env.step(parse_action("no json here", "hermes"))
    assert out.info["malformed"] == 1 and not out.terminated
    stage2 = agents.make("mobile-gui", stage="action")
    out = run_oracle("mobile-gui", limit=20, stage="action")
    assert out["mean_return"] == 3.0 and out["turns/mean"] == 1.0  # gui_action: type + box + format
    assert stage2.examples("test")[0].reference["action"] in ("click", "input_text")


def test_rewardlab_eval_oracle_goes_through_the_python_api():
    from rewardlab import api

    out = api.evaluate("oracle", task="lookup", limit=3)
    assert out["model"] == "oracle" and out["mean_return"] == 1.0 and out["episodes"] == 3
