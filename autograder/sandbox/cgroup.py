"""A cgroup per warm sandbox: memory (tmpfs and shared memory included), pids, and a CPU share.

Parent side. Where the grader may create cgroups (root) it uses cgroup v2 when the machine has
it, and the v1 ``memory``, ``pids`` and ``cpu`` controllers otherwise (hybrid hierarchies, as on
many CI machines). A normal user gets the same limits from a delegated systemd user scope
(:func:`systemd_scope_prefix`). Everything started inside inherits the cgroup, so one
submission's memory, processes and CPU use cannot reach past its sandbox's share.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")


@dataclass(frozen=True)
class CgroupLimits:
    memory_bytes: int
    pids: int
    cpu_weight: int = 100  # the same for every sandbox: equal shares under --jobs N


def _own_paths() -> dict[str, str]:
    """``{controller or "": path}`` of this process's cgroups (from /proc/self/cgroup)."""
    out = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _hid, controllers, path = line.rstrip("\n").split(":", 2)
                for c in controllers.split(",") if controllers else [""]:
                    out[c] = path
    except OSError:
        pass
    return out


def _mounts() -> dict[str, Path]:
    """``{controller: mount point}`` of the v1 hierarchies, ``{"": root}`` for cgroup2."""
    out: dict[str, Path] = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _src, opts = (right.split() + ["", "", ""])[:3]
                point = Path(left.split()[4])
                if fstype == "cgroup2":
                    out.setdefault("", point)
                elif fstype == "cgroup":
                    for opt in opts.split(","):
                        out.setdefault(opt, point)
    except OSError:
        pass
    return out


class Cgroup:
    """One sandbox's cgroup: a folder per v1 controller, or one cgroup2 folder."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self.dirs, self.version = dirs, version
        self._oom_base = self.oom_kills()

    @classmethod
    def create(cls, name: str, limits: CgroupLimits) -> tuple[Cgroup | None, str]:
        """A new cgroup called ``name`` with ``limits``, or ``(None, why not)``."""
        if os.geteuid() != 0:
            return None, "cgroups can be created by root only (or through a systemd user scope)"
        mounts, own = _mounts(), _own_paths()
        v2 = mounts.get("")
        try:
            if v2 is not None and (v2 / "cgroup.controllers").is_file() and \
                    set(V1_CONTROLLERS) <= set((v2 / "cgroup.controllers").read_text().split()):
                return cls._create_v2(v2, name, limits), ""
            if all(c in mounts for c in V1_CONTROLLERS):
                return cls._create_v1(mounts, own, name, limits), ""
        except OSError as exc:
            return None, f"could not create a cgroup ({exc.strerror or exc})"
        return None, "no cgroup v2 with memory/pids/cpu, nor the v1 memory/pids/cpu controllers"

    @classmethod
    def _create_v1(cls, mounts: dict[str, Path], own: dict[str, str], name: str,
                   limits: CgroupLimits) -> Cgroup:
        dirs = {}
        try:
            for c in V1_CONTROLLERS:
                d = mounts[c] / own.get(c, "/").lstrip("/") / name
                d.mkdir()
                dirs[c] = d
            mem = dirs["memory"]
            (mem / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                (mem / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
            (dirs["pids"] / "pids.max").write_text(str(limits.pids))
            (dirs["cpu"] / "cpu.shares").write_text(str(limits.cpu_weight * 1024 // 100))
        except OSError:
            cls(dirs, 1).remove()
            raise
        return cls(dirs, 1)

    @classmethod
    def _create_v2(cls, root: Path, name: str, limits: CgroupLimits) -> Cgroup:
        # Leaves under one parent of our own with the controllers enabled (a cgroup2 parent
        # that holds processes may not enable controllers for its children).
        parent = root / "cnnkit"
        parent.mkdir(exist_ok=True)
        for d in (root, parent):
            # only what is missing: a systemd host's root already delegates all three, and a
            # write there is refused where the root holds processes (a container's own root)
            enabled = set((d / "cgroup.subtree_control").read_text().split()) \
                if (d / "cgroup.subtree_control").exists() else set()
            missing = [c for c in V1_CONTROLLERS if c not in enabled]
            if missing:
                (d / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
        d = parent / name
        d.mkdir()
        try:
            (d / "memory.max").write_text(str(limits.memory_bytes))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
            (d / "pids.max").write_text(str(limits.pids))
            (d / "cpu.weight").write_text(str(limits.cpu_weight))
        except OSError:
            cls({"": d}, 2).remove()
            raise
        return cls({"": d}, 2)

    def enter(self) -> None:
        """Move the calling process in (used between fork and exec of the sandbox)."""
        for d in self.dirs.values():
            with open(d / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def pids(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs.values():
            with contextlib.suppress(OSError):
                out |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        return out

    def oom_kills(self) -> int:
        """How many processes the kernel killed here for lack of memory, so far."""
        d = self.dirs.get("memory") or self.dirs.get("")
        if d is None:  # creation failed before the memory folder was made
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        with contextlib.suppress(OSError, ValueError, AttributeError):
            for line in (d / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def had_oom_kill(self) -> bool:
        """Whether an OOM kill happened since the last call (or since creation)."""
        now = self.oom_kills()
        hit, self._oom_base = now > self._oom_base, now
        return hit

    def kill_all(self) -> None:
        """SIGKILL every process inside, until none is left."""
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the last process is reaped
                    time.sleep(0.01)


@functools.cache
def systemd_scope_prefix(limits: CgroupLimits) -> tuple[str, ...] | None:
    """For a normal user: the ``systemd-run --user --scope`` prefix that puts a command in a
    delegated cgroup with ``limits``, or None where there is no systemd user instance."""
    exe = shutil.which("systemd-run")
    if os.geteuid() == 0 or exe is None:
        return None
    prefix = (exe, "--user", "--scope", "--quiet", "--collect",
              "-p", f"MemoryMax={limits.memory_bytes}", "-p", "MemorySwapMax=0",
              "-p", f"TasksMax={limits.pids}", "-p", f"CPUWeight={limits.cpu_weight}", "--")
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else None
