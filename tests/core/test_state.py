"""Declared state (rewardlab.core.state): each kind round-trips, restores in place where others hold
a reference, and a checkpoint that does not match the declaration is refused by name."""

import copy
import io
import random
from collections import deque

import numpy as np
import pytest
import torch
from torch import nn

from rewardlab.core.state import (
    ARRAY,
    OBJECT,
    PROCESS_RNGS,
    RNG,
    TENSOR,
    VALUE,
    Stateful,
    process_rng_state,
    set_process_rng_state,
    spawn_rngs,
)
from rewardlab.errors import RewardlabError

FIELDS = {"net": OBJECT, "optimizer": OBJECT, "log_std": TENSOR, "counts": ARRAY, "rng": RNG, "history": VALUE,
          "rng_global": PROCESS_RNGS, "norm": OBJECT}  # fmt: skip


class Model:
    """A tiny learner touching every kind of state: module, optimizer, parameter, array, generators."""

    def __init__(self, seed=0, norm=False):
        torch.manual_seed(seed)
        random.seed(seed)
        self.lr = 0.1
        self.net = nn.Linear(3, 2)
        self.log_std = nn.Parameter(torch.zeros(2))
        self.optimizer = torch.optim.Adam([*self.net.parameters(), self.log_std], lr=self.lr)
        self.counts = np.zeros(4)
        self.rng = np.random.default_rng(seed)
        self.history = deque(maxlen=3)
        self.norm = nn.LayerNorm(2) if norm else None

    def train_step(self):
        x = torch.as_tensor(self.rng.standard_normal((5, 3)), dtype=torch.float32)
        noise = torch.randn(5, 2)  # the process-wide generator, as sampling code uses it
        loss = ((self.net(x) + noise * self.log_std.exp()) ** 2).mean() + random.random()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.counts[int(self.rng.integers(4))] += 1
        self.history.append(loss.item())
        return loss.item()


class Learner(Model, Stateful):
    state_fields = FIELDS
    rebuilt_fields = ("lr",)


class Forgetful(Model, Stateful):
    state_fields = {k: v for k, v in FIELDS.items() if k != "rng"}
    rebuilt_fields = ("lr",)


def _through_torch_save(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_declared_state_resumes_bit_for_bit():
    straight = Learner()
    reference = [straight.train_step() for _ in range(6)]
    first = Learner()
    head = [first.train_step() for _ in range(3)]
    state = _through_torch_save(first.state_dict())
    [first.train_step() for _ in range(2)]  # the saved state must not alias the live objects
    torch.manual_seed(123)  # whatever happened to the process generators since the save
    resumed = Learner(seed=99)
    optimizer_params = resumed.optimizer.param_groups[0]["params"]
    resumed.load_state_dict(state)
    tail = [resumed.train_step() for _ in range(3)]
    assert head + tail == reference
    assert np.array_equal(resumed.counts, straight.counts) and list(resumed.history) == list(straight.history)
    # the parameter the optimizer updates is still the module's: restored in place, not replaced
    assert resumed.optimizer.param_groups[0]["params"] is optimizer_params
    assert resumed.optimizer.param_groups[0]["params"][-1] is resumed.log_std


def test_a_forgotten_field_breaks_resume_and_is_reported_as_undeclared():
    """The control arm: without the generator in the declaration the resumed run draws other numbers,
    and undeclared_attributes names the attribute nobody classified."""
    straight = Forgetful()
    reference = [straight.train_step() for _ in range(4)]
    first = Forgetful()
    head = [first.train_step() for _ in range(2)]
    resumed = Forgetful(seed=5)
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    assert head + [resumed.train_step() for _ in range(2)] != reference
    assert resumed.undeclared_attributes() == ["rng"]
    assert Learner().undeclared_attributes() == []


def test_a_checkpoint_of_another_shape_is_refused_by_name():
    state = Learner().state_dict()
    del state["counts"]
    state["extra"] = 1
    with pytest.raises(
        RewardlabError, match=r"Learner's declared state: missing \['counts'\], unexpected \['extra'\]"
    ):
        Learner().load_state_dict(state)


def test_an_optional_part_must_agree_with_the_checkpoint():
    with_norm = Learner(norm=True).state_dict()
    with pytest.raises(
        RewardlabError, match=r"Learner\.norm: the checkpoint holds a state but this Learner has none"
    ):
        Learner(norm=False).load_state_dict(with_norm)
    Learner(norm=True).load_state_dict(with_norm)  # same config: fine


def test_an_unknown_kind_is_a_type_error_at_class_definition():
    with pytest.raises(TypeError, match=r"Bad.state_fields\['x'\]: unknown kind 'tensors'"):

        class Bad(Stateful):
            state_fields = {"x": "tensors"}


def test_subclasses_add_to_the_declaration():
    class More(Learner):
        state_fields = {"extra": VALUE}
        rebuilt_fields = ("scratch",)

    assert list(More.declared_state()) == [*Learner.state_fields, "extra"]
    assert More.declared_rebuilt() == {"lr", "scratch"}


def test_process_rng_state_round_trip():
    saved = process_rng_state()
    a = (torch.rand(3), np.random.random(3), random.random())
    set_process_rng_state(_through_torch_save(saved))
    b = (torch.rand(3), np.random.random(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_spawn_rngs_gives_independent_reproducible_streams():
    a, b = spawn_rngs(7, 2)
    c, d = spawn_rngs(7, 2)
    assert a.random() == c.random() and b.random() == d.random()
    assert spawn_rngs(7, 2)[0].random() != spawn_rngs(7, 2)[1].random()
