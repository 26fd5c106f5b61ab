"""code_tests: sandboxed execution; infinite loops and memory hogs are stopped and score 0."""

import os
import time

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.rewards import Sample, get
from rewardlab.rewards.code_tests import split_tests

ADD_TESTS = "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\nassert add(2, 2) == 5"


def test_split_tests_groups_setup_with_the_next_assert():
    assert split_tests("x = 1\nassert x == 1\ny = 2\nassert y == 2\nz = 3") == ["x = 1\nassert x == 1", "y = 2\nassert y == 2\nz = 3"]
    assert split_tests(["assert True", "assert False"]) == ["assert True", "assert False"]
    with pytest.raises(ValueError, match="not valid Python"):
        split_tests("assert (")


def test_code_tests_fraction_passed_hangs_and_memory_hogs():
    r = get("code_tests", timeout=2.0, memory_mb=256)
    samples = [
        Sample(completion="Here:\n```python\ndef add(a, b):\n    return a + b\n```", reference=ADD_TESTS),
        Sample(completion="def add(a, b):\n    while True:\n        pass", reference=["assert add(1, 2) == 3"]),
        Sample(completion="hog = bytearray(4 * 1024 ** 3)\ndef add(a, b):\n    return a + b", reference=["assert add(1, 2) == 3"]),
        Sample(completion="def add(a, b):\n    return a + b", reference=["assert add(1, 2) == 3", "while True: pass", "assert add(1, 1) == 2"]),
        Sample(completion="def add(a, b):\n    print('noise'); return a + b", reference=["assert add(1, 2) == 3"]),
        Sample(completion="", reference=["assert True"]),
        Sample(completion="def add(a, b) return", reference=["assert add(1, 2) == 3"]),
    ]
    start = time.perf_counter()
    res = r.score(samples)
    elapsed = time.perf_counter() - start
    assert res.total.tolist() == [0.75, 0.0, 0.0, pytest.approx(1 / 3), 1.0, 0.0, 0.0]
    assert "timed out after 2 s" in res.notes[1] and "timed out" in res.notes[3]
    assert "raised before the tests ran" in res.notes[2]
    assert res.counts["code_tests/malformed"] == 1  # the empty completion
    assert elapsed < 10.0  # the two hangs ran in parallel and were killed


def test_code_tests_blocks_network_and_process_creation(tmp_path):
    r = get("code_tests", timeout=5.0)
    net = "import socket\ndef f():\n    try:\n        socket.socket()\n    except OSError:\n        return 'blocked'\n    return 'open'"
    spawn = (
        f"import subprocess, os\ndef f():\n    try:\n        os.system('touch {tmp_path}/pwned')\n"
        "    except PermissionError:\n        return 'blocked'\n    return 'open'"
    )
    res = r([Sample(completion=net, reference=["assert f() == 'blocked'"]), Sample(completion=spawn, reference=["assert f() == 'blocked'"])])
    assert res.tolist() == [1.0, 1.0]
    assert not (tmp_path / "pwned").exists()


def test_code_tests_runs_in_a_fresh_temporary_directory():
    r = get("code_tests", timeout=5.0)
    code = "import os\nopen('scratch.txt', 'w').write('x')\ncwd = os.getcwd()"
    before = set(os.listdir("."))
    assert r([Sample(completion=code, reference=["assert 'rewardlab-code-' in cwd", "assert os.listdir('.') == ['scratch.txt']"])])[0] == 1.0
    assert set(os.listdir(".")) == before


def test_code_tests_bad_reference_is_a_reward_error():
    with pytest.raises(RewardlabError, match=r"'code_tests' has a bad reference: the reference tests are not valid Python.*sample 0"):
        get("code_tests")([Sample(completion="x = 1", reference="assert (")])
