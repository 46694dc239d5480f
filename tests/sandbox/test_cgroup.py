"""The cgroup v2 path of ``sandbox.cgroup`` on a stand-in cgroup2 tree (a folder with the
interface files a cgroup2 root shows). The machines here run a hybrid v1 hierarchy, where the v1
path is tested for real (tests/sandbox/test_sandbox.py); this pins the v2 file names, the limits
written into them and which controllers are enabled where, which a kernel would otherwise be
the first to check."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.sandbox import cgroup

LIMITS = cgroup.CgroupLimits(memory_bytes=3 * 2**30, pids=256, cpu_weight=100)


@pytest.fixture
def v2_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("\n")
    monkeypatch.setattr(cgroup, "_mounts", lambda: {"": root})
    monkeypatch.setattr(cgroup.os, "geteuid", lambda: 0)
    return root


def _writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    real = Path.write_text

    def write_text(self: Path, data: str, *args, **kwargs) -> int:
        seen.append((self.name if self.parent.name != "cnnkit" else f"cnnkit/{self.name}", data))
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    return seen


def test_a_v2_cgroup_gets_memory_pids_and_cpu_limits(v2_root: Path) -> None:
    cg, why = cgroup.Cgroup.create("box-1", LIMITS)
    assert why == "" and cg is not None and cg.version == 2
    leaf = v2_root / "cnnkit" / "box-1"
    assert cg.dirs == {"": leaf}
    assert (leaf / "memory.max").read_text() == str(3 * 2**30)
    assert (leaf / "pids.max").read_text() == "256"
    assert (leaf / "cpu.weight").read_text() == "100"
    for d in (v2_root, v2_root / "cnnkit"):  # enabled for the children of both
        assert (d / "cgroup.subtree_control").read_text().split() == ["+memory", "+pids", "+cpu"]


def test_controllers_already_delegated_are_not_written_again(v2_root: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    (v2_root / "cgroup.subtree_control").write_text("cpuset cpu io memory pids\n")
    (v2_root / "cnnkit").mkdir()
    (v2_root / "cnnkit" / "cgroup.subtree_control").write_text("memory\n")
    seen = _writes(monkeypatch)
    cg, _ = cgroup.Cgroup.create("box-2", LIMITS)
    assert cg is not None
    assert [w for w in seen if w[0].endswith("subtree_control")] == [
        ("cnnkit/cgroup.subtree_control", "+pids +cpu")]


def test_v2_is_used_only_with_all_three_controllers(v2_root: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (v2_root / "cgroup.controllers").write_text("cpu io memory\n")  # no pids
    monkeypatch.setattr(cgroup, "_mounts", lambda: {"": v2_root})  # and no v1 hierarchies
    cg, why = cgroup.Cgroup.create("box-3", LIMITS)
    assert cg is None
    assert why == "no cgroup v2 with memory/pids/cpu, nor the v1 memory/pids/cpu controllers"


def test_a_refused_write_gives_the_reason_and_no_cgroup(v2_root: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_text

    def refuse(self: Path, data: str, *args, **kwargs) -> int:
        if self.name == "cgroup.subtree_control":
            raise OSError(16, "Device or resource busy")
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse)
    cg, why = cgroup.Cgroup.create("box-4", LIMITS)
    assert cg is None and why == "could not create a cgroup (Device or resource busy)"


def test_oom_kills_are_read_from_memory_events(v2_root: Path) -> None:
    cg, _ = cgroup.Cgroup.create("box-5", LIMITS)
    assert cg is not None and not cg.had_oom_kill()
    (v2_root / "cnnkit" / "box-5" / "memory.events").write_text(
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.had_oom_kill() and not cg.had_oom_kill()
