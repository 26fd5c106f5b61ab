"""The private torch kernels behind rewardlab.rl.common.PRIVATE_TORCH_OPS: their signatures are
the ones the fast path was written against, and they give the public API's numbers exactly."""

import pytest
import torch

from rewardlab.rl import common
from rewardlab.rl.common import LeanAdam, clip_grad_norm, mlp

#: the schemas LeanAdam.update and clip_grad_norm call (torch 2.13); a new torch that changes one
#: must fail here, by name, rather than silently in a training run
EXPECTED = {
    "_fused_adam_.default": (
        "aten::_fused_adam_(Tensor(a!)[] self, Tensor(b!)[] grads, Tensor(c!)[] exp_avgs, Tensor(d!)[] exp_avg_sqs, "
        "Tensor(e!)[] max_exp_avg_sqs, Tensor[] state_steps, *, float lr, float beta1, float beta2, "
        "float weight_decay, float eps, bool amsgrad, bool maximize, Tensor? grad_scale=None, "
        "Tensor? found_inf=None) -> ()"
    ),
    "_foreach_add_.Scalar": "aten::_foreach_add_.Scalar(Tensor(a!)[] self, Scalar scalar) -> ()",
    "_foreach_norm.Scalar": "aten::_foreach_norm.Scalar(Tensor[] self, Scalar ord=2, ScalarType? dtype=None) -> Tensor[]",
    "_foreach_mul_.Tensor": "aten::_foreach_mul_.Tensor(Tensor(a!)[] self, Tensor other) -> ()",
}


@pytest.mark.parametrize("op", sorted(EXPECTED))
def test_private_op_signatures_are_unchanged(op):
    name, overload = op.split(".")
    packet = getattr(torch.ops.aten, name, None)
    assert packet is not None and overload in packet.overloads(), (
        f"torch {torch.__version__} has no aten::{op}; set rewardlab.rl.common.PRIVATE_TORCH_OPS = False "
        f"(public API, same numbers) and update LeanAdam / clip_grad_norm"
    )
    schema = str(getattr(packet, overload)._schema)
    assert schema == EXPECTED[op], (
        f"torch {torch.__version__} changed the signature of aten::{op}:\n  now:      {schema}\n  expected: "
        f"{EXPECTED[op]}\nset rewardlab.rl.common.PRIVATE_TORCH_OPS = False and update LeanAdam / clip_grad_norm"
    )
    assert callable(getattr(torch, name))  # the Python binding the fast path calls


def _train(private: bool, monkeypatch) -> tuple[list[torch.Tensor], list[float]]:
    monkeypatch.setattr(common, "PRIVATE_TORCH_OPS", private)
    torch.manual_seed(0)
    net = mlp(4, (16, 16), 2)
    params = list(net.parameters())
    opt = LeanAdam(params, lr=1e-2, eps=1e-5)
    x = torch.randn(32, 4)
    norms = []
    for step in range(8):
        opt.param_groups[0]["lr"] = 1e-2 / (step + 1)  # a schedule, as PPO anneals it
        opt.zero_grad(set_to_none=True)
        (net(x) * (10.0 if step % 2 else 0.01)).pow(2).sum().backward()  # clipping on every other step
        norms.append(clip_grad_norm(params, 1.0).item())
        opt.update()
    return [p.detach().clone() for p in params], norms


def test_private_and_public_paths_give_identical_numbers(monkeypatch):
    private_params, private_norms = _train(True, monkeypatch)
    public_params, public_norms = _train(False, monkeypatch)
    assert any(n > 1.0 for n in public_norms) and any(n < 1.0 for n in public_norms)  # both branches ran
    assert private_norms == public_norms
    assert all(torch.equal(a, b) for a, b in zip(private_params, public_params))


def test_the_switch_routes_every_update(monkeypatch):
    """Off: every update goes through the public Adam.step and clip_grad_norm_ (which use the same
    kernels inside torch); on: only LeanAdam's first step does, to create the optimizer state."""
    calls = {"step": 0, "clip": 0}
    adam_step, clip = torch.optim.Adam.step, torch.nn.utils.clip_grad_norm_

    def counting_step(self, closure=None):
        calls["step"] += 1
        return adam_step(self, closure)

    def counting_clip(*args, **kwargs):
        calls["clip"] += 1
        return clip(*args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", counting_clip)
    _train(False, monkeypatch)
    assert calls == {"step": 8, "clip": 8}
    calls.update(step=0, clip=0)
    _train(True, monkeypatch)
    assert calls == {"step": 1, "clip": 0}
