"""The run cgroups behind the sandbox's whole-tree limits: made, reused, counted and removed."""

from __future__ import annotations

import os

import pytest

from verifiers.sandbox.cgroup import CgroupPool, cgroups_available, find_hierarchy, make_run_cgroup


@pytest.fixture
def hierarchy():
    ok, why = cgroups_available()
    if not ok:
        pytest.skip(f"no cgroup can be made here: {why}")
    return find_hierarchy()


def _mine(folder: str) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(f"reverse-o1-sandbox-{os.getpid()}-")]


def test_a_run_cgroup_has_the_limits_and_is_removed(hierarchy):
    run = make_run_cgroup(96 << 20, 12, hierarchy)
    memory = run.folders[0]
    if hierarchy.version == 1:
        assert int(open(os.path.join(memory, "memory.limit_in_bytes")).read()) == 96 << 20
        if hierarchy.pids:
            assert open(os.path.join(run.folders[1], "pids.max")).read().strip() == "12"
    else:
        assert open(os.path.join(memory, "memory.max")).read().strip() == str(96 << 20)
    assert run.empty() and not run.oom_killed()
    run.remove()
    assert not any(os.path.exists(f) for f in run.folders)


def test_the_pool_reuses_and_closes(hierarchy):
    pool = CgroupPool()
    first = pool.take(80 << 20, 10)
    pool.give_back(first)
    again = pool.take(80 << 20, 10)
    assert again is first  # same limits: reused, not remade
    other = pool.take(88 << 20, 10)
    assert other is not first
    pool.give_back(again)
    pool.give_back(other)
    pool.close()
    assert not any(os.path.exists(f) for f in [*first.folders, *other.folders])


def test_memory_kills_are_counted_per_run(hierarchy):
    """A reused cgroup keeps the kernel's running count: each run is judged from its own start."""
    from verifiers.sandbox import BwrapSandbox, Limits

    box = BwrapSandbox(use_cgroup=True)
    limits = Limits(wall_seconds=20, cpu_seconds=20, memory_bytes=256 << 20, max_processes=8)
    program = ("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        b = b'x' * (180 << 20)\n"
               "        time.sleep(1)\n        os._exit(0)\nfor _ in range(3):\n    os.wait()")
    bomb = box.run(["python", "-c", program], limits=limits)  # 3 x 180 MiB, each under RLIMIT_AS
    assert bomb.status == "memory", bomb
    calm = box.run(["python", "-c", "print('fine')"], limits=limits)
    assert calm.status == "ok" and calm.stdout.strip() == "fine", calm
