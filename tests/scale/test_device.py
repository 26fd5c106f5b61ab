"""``device``: a GPU nobody has is refused by name, an algorithm that is not GPU-ready refuses one
instead of training on the CPU, and a checkpoint written on a GPU resumes on a CPU-only machine
with ``--set device=cpu``, bit for bit (its tensors are tagged cuda:0 here exactly as a GPU run's
are, and read back onto the CPU). Nothing here needs a GPU; benchmarks/gpu_check.py runs the same paths on one (docs/gpu.md)."""


import pytest
import torch
import torch.serialization
from _resume import comparable_result, killed_after_checkpoint, logged_metrics

from rewardlab.core import device as device_mod
from rewardlab.core.run import Run, checkpoints, new_config
from rewardlab.errors import ConfigError
from rewardlab.llm.policy import PolicyConfig
from rewardlab.llm.tiny import tiny_policy
from rewardlab.rl.dqn import DQN, DQNConfig
from rewardlab.rl.ppo import PPO, PPOConfig
from rewardlab.rl.sac import SAC, SACConfig

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: cuda is valid here")
NAMED = r"config key 'device': 'cuda' is not available \(torch sees no CUDA GPU on this machine\); valid: cpu"


@no_gpu
@pytest.mark.parametrize(
    "build",
    [
        lambda: PPO(PPOConfig(env="CartPole-v1", num_envs=2, device="cuda")),
        lambda: DQN(DQNConfig(env="CartPole-v1", device="cuda")),
        lambda: tiny_policy(PolicyConfig(device="cuda", lora_r=0)),
        lambda: new_config("ppo", sets=["device=cuda"], cli={"env": "CartPole-v1"}),  # the CLI's path
    ],
    ids=["ppo", "dqn", "lm-policy", "cli"],
)
def test_a_gpu_this_machine_lacks_is_a_config_error_naming_it_and_the_valid_devices(build):
    with pytest.raises(ConfigError, match=NAMED):
        build()


def test_an_algorithm_that_is_not_gpu_ready_refuses_a_gpu_instead_of_training_on_the_cpu(monkeypatch):
    # pretend torch sees a GPU, so the device check passes and the readiness check is what answers
    monkeypatch.setattr(device_mod, "available_devices", lambda: ["cpu", "cuda", "cuda:0"])
    with pytest.raises(
        ConfigError, match=r"'device': 'cuda' is not supported by SAC, which runs on the CPU only; valid: cpu"
    ):
        SAC(SACConfig(env="Pendulum-v1", device="cuda"))
    assert device_mod.algorithm_device(PPO.__new__(PPO), PPOConfig(device="cuda")) == torch.device("cuda")


def test_ppo_reward_streams_on_a_gpu_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"'transition_rewards' is not supported with device = 'cuda' yet"):
        PPOConfig(device="cuda", transition_rewards=[{"reward": "rnd"}]).validate()


@pytest.mark.parametrize(
    "algo, sets, cli",
    [
        ("ppo", ["num_envs=2", "n_steps=16", "batch_size=16", "n_epochs=2", "backend=local", "num_workers=2"],
         {"env": "CartPole-v1", "total_steps": 128}),
        ("grpo", ["model=tiny-random-llama", "lora_r=4", "max_completion_length=4", "max_prompt_length=48",
                  "batch_size=2", "num_generations=2", "num_iterations=2", "beta=0.04", "num_threads=1",
                  "task_params={digits=1, num_train=8, num_test=4}"], {"env": "arithmetic", "total_steps": 4}),
    ],
    ids=["ppo-workers", "grpo"],
)  # fmt: skip
def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu_bit_for_bit(algo, sets, cli, tmp_path, monkeypatch):
    cli = {**cli, "seed": 3}
    sets = [*sets, f"checkpoint_every={cli['total_steps'] // 4}", "eval_episodes=2"]
    full = tmp_path / "full"
    with monkeypatch.context() as m:  # every storage saved as a GPU run saves it
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        result = Run.start(algo, new_config(algo, sets=sets, cli=cli), full).train(progress=False)
    with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device"):
        torch.load(checkpoints(full)[0] / "state.pt", weights_only=False)  # what a plain load would do
    cut = killed_after_checkpoint(full, 1, copy_to=tmp_path / "cut")
    # the GPU run's config names its device; this machine has none, so the resume says how to move it
    config = cut / "config.toml"
    config.write_text(config.read_text().replace('device = "cpu"', 'device = "cuda"'))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=NAMED):
            Run.resume(cut)
    again = Run.resume(cut, {"device": "cpu"}).train(progress=False)
    assert (
        'device = "cpu"' in config.read_text()
        and "device changed from cuda to cpu" in (cut / "run.log").read_text()
    )
    assert logged_metrics(cut) == logged_metrics(full)
    assert comparable_result(again) == comparable_result(result)
