"""Which miniwob prompt lets base SmolLM2-135M-Instruct act: sampled calls per prompt format.

    PYTHONPATH=src nice -n 10 python benchmarks/agents_miniwob_prompt_probe.py --pages 8 --samples 6

For each format the first ``--pages`` held-out pages are reset through the env (its own prompt),
``--samples`` completions of ``--tokens`` tokens are sampled per page, and parsed with the ``call``
parser. Printed: the call rate and the rate of a right first call (same tool and ref as the env's
oracle). Formats: ``tools`` (chat request with the tool list, chat template, temperature 1.0),
``examples`` (two solved pages, no template, temperature 0.7), ``examples+end`` (the same with
SmolLM2's end-of-turn text after each example's calls).
"""

import argparse
import json

import torch

from rewardlab import agents
from rewardlab.agents.actions import parse_action
from rewardlab.agents.envs.miniwob import POOL
from rewardlab.llm.policy import Policy, PolicyConfig

FORMATS = {  # name: (task params, use_chat_template, temperature)
    "tools": ({"prompt": "tools"}, True, 1.0),
    "examples": ({"prompt": "examples"}, False, 0.7),
    "examples+end": ({"prompt": "examples", "example_end": "<|im_end|>"}, False, 0.7),
}


def first_call(text: str) -> tuple:
    a = parse_action(text.strip().split("\n\n")[0], "call")
    if not a.calls:
        return ()
    return (a.calls[0].name, next(iter(a.calls[0].arguments.values()), None))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=8)
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=24)
    args = ap.parse_args()
    torch.manual_seed(0)
    for name, (params, templated, temperature) in FORMATS.items():
        task = agents.make("miniwob", task="click-button+enter-text", num_test=args.pages, **params)
        prompts, oracles = [], []
        for ex in task.examples("test"):
            env = task.make_env()
            messages, info = env.reset(seed=5, task=ex)
            prompts.append(messages)
            oracles.append(first_call(env.oracle(messages, info)))
            env.close()
        cfg = PolicyConfig(model="smollm2-135m-instruct", lora_r=0, num_threads=1, max_prompt_length=768)
        cfg.use_chat_template = templated
        policy = Policy.from_config(cfg)
        ids, mask = policy.encode_prompts(prompts)
        out = policy.generate(
            ids, mask, num_generations=args.samples, max_new_tokens=args.tokens, temperature=temperature
        )
        calls = right = 0
        for i in range(out.completion_ids.shape[0]):
            row = out.completion_ids[i][out.completion_mask[i].bool()]
            call = first_call(policy.tokenizer.decode(row, skip_special_tokens=True))
            calls += bool(call)
            right += bool(call) and call == oracles[i // args.samples]
        n = out.completion_ids.shape[0]
        print(
            name,
            json.dumps({"samples": n, "call_rate": calls / n, "right_first_call": right / n}),
            flush=True,
        )
    POOL.close()


if __name__ == "__main__":
    main()
