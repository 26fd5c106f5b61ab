"""Where an algorithm's tensors live: ``device = "cpu"`` (the default) or ``"cuda"`` / ``"cuda:N"``.

The rule every GPU-ready algorithm follows (docs/gpu.md):

- networks and optimizer state on the device (``module.to(device)`` before the optimizer is built);
- tensors made on the device (``device=``), numpy arrays moved there at the boundary, and moved back
  with ``.cpu()`` where an env, numpy or a tokenizer takes them;
- random draws of the process-wide generators happen on the device their tensor lives on (a CUDA
  run draws other numbers than a CPU run: the device is part of a run's config, like its seed);
- checkpoints are read with ``map_location="cpu"`` and every restored tensor is moved to the tensor
  it replaces, so a checkpoint written on a GPU resumes on a CPU-only machine and the other way.

On the CPU every ``.to(device)`` and ``.cpu()`` returns the tensor itself, so CPU runs are
bit-identical to the code before devices existed (tests/scale/test_device.py).

An algorithm declares ``gpu_ready = True`` when it follows the rule; any other asked for a GPU
refuses by name instead of silently training on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch

from rewardlab.config import available_devices
from rewardlab.errors import ConfigError


def check_device(device: str) -> torch.device:
    """``device`` as a torch.device, or the ConfigError ``check_config`` gives for it (checked here
    too because an algorithm or an LM policy can be built from a config without a Run)."""
    valid = available_devices()
    if device not in valid:
        why = " (torch sees no CUDA GPU on this machine)" if str(device).startswith("cuda") else ""
        raise ConfigError(f"config key 'device': {device!r} is not available{why}; valid: {', '.join(valid)}")
    return torch.device(device)


def algorithm_device(algorithm: Any, config: Any) -> torch.device:
    """The device of ``algorithm`` (an Algorithm subclass instance) for ``config.device``; a GPU
    asked of an algorithm that is not GPU-ready is a ConfigError naming it."""
    device = check_device(getattr(config, "device", "cpu"))
    # declared in the class's own body: a subclass that adds tensors (a value head) must say so itself
    if device.type != "cpu" and not vars(type(algorithm)).get("gpu_ready", False):
        raise ConfigError(
            f"config key 'device': {config.device!r} is not supported by {type(algorithm).__name__}, which "
            "runs on the CPU only; valid: cpu (GPU-ready: ppo, dqn, grpo, rloo; see docs/gpu.md)"
        )
    return device
