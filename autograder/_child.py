"""Sandbox child: runs a student's extracted code and the steps of the hidden checks.

This file is copied, together with ``checkkit.py``, into a fresh sandbox directory and started
as ``python -I -S _child.py SANDBOX_DIR`` with a ``sys.path`` the parent builds (standard library
+ site-packages, no ``.pth`` files, so neither this repository nor the hidden checks are
importable). It must therefore import only the standard library at the top; numpy and torch are
imported after the sandbox is set up.

Protocol (all files inside SANDBOX_DIR):
  plan.json, plan.npz   written by the parent (root-only when the grader is root): code, checks
                        and their steps (encoded with :func:`encode`), limits, uid, paths to hide.
  out/loaded.json       written once the student's code has been executed (load errors listed).
  out/NNN.json/.npz     one pair per check, written right after that check ran.
Child stdout/stderr are *not* a result channel: the parent keeps only their first kilobytes.

The codec functions are also imported by the parent (``autograder.sandbox``), with the parent's
``checkkit`` module passed in, so both sides agree on the format.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

# --------------------------------------------------------------------------------------------
# Codec: plain data + arrays <-> JSON + npz (no pickle anywhere)
# --------------------------------------------------------------------------------------------

MAX_DEPTH = 8


class CodecError(ValueError):
    """Malformed plan or result data."""


def encode(value: Any, arrays: dict[str, Any], ck: Any, depth: int = 0) -> Any:
    """Encode ``value`` as tagged JSON; numpy arrays go into ``arrays`` (keys ``a0, a1, ...``)."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"__int__": str(value)} if abs(value) >= 2**53 else value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return encode(value.item(), arrays, ck, depth)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise CodecError(f"arrays of dtype {value.dtype} are not supported")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, ck.Ref):
        return {"__ref__": [value.name, encode(value.index, arrays, ck, depth + 1)]}
    if isinstance(value, ck.AsTensor):
        return {"__tensor__": encode(value.array, arrays, ck, depth + 1),
                "grad": bool(value.requires_grad)}
    if isinstance(value, ck.Raised):
        return {"__raised__": [str(value.type), str(value.message)]}
    if isinstance(value, ck.Opaque):
        return {"__opaque__": str(value.type)}
    if isinstance(value, ck.Skipped):
        return {"__skipped__": str(value.reason)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays, ck, depth + 1) for v in value]}
    if isinstance(value, list):
        return {"__list__": [encode(v, arrays, ck, depth + 1) for v in value]}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CodecError(f"dict keys must be str or int, got {type(k).__name__}")
            items.append([k, encode(v, arrays, ck, depth + 1)])
        return {"__dict__": items}
    raise CodecError(f"cannot encode a {type(value).__name__}")


def decode(obj: Any, arrays: Any, ck: Any, depth: int = 0) -> Any:
    """Inverse of :func:`encode`; raises :class:`CodecError` on anything unexpected."""
    if depth > MAX_DEPTH + 1:
        raise CodecError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if not isinstance(obj, dict) or len(obj) not in (1, 2):
        raise CodecError(f"unexpected {type(obj).__name__} in encoded data")
    tag = next(iter(obj))
    body = obj[tag]
    if tag == "__int__" and isinstance(body, str) and body.lstrip("-").isdigit():
        return int(body)
    if tag == "__float__" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "__array__" and isinstance(body, str):
        if body not in arrays:
            raise CodecError(f"array {body!r} missing")
        arr = arrays[body]
        if arr.dtype.kind not in "biufc":
            raise CodecError(f"array of dtype {arr.dtype}")
        return arr
    if tag == "__tensor__" and isinstance(obj.get("grad"), bool):
        arr = decode(body, arrays, ck, depth + 1)
        return ck.AsTensor(arr, obj["grad"])
    if len(obj) != 1:
        raise CodecError(f"unexpected keys {sorted(obj)}")
    if tag == "__ref__" and isinstance(body, list) and len(body) == 2 and isinstance(body[0], str):
        index = decode(body[1], arrays, ck, depth + 1)
        if index is not None and not isinstance(index, (int, str)):
            raise CodecError("bad Ref index")
        return ck.Ref(body[0], index)
    if tag == "__raised__" and _strs(body, 2):
        return ck.Raised(body[0], body[1])
    if tag == "__opaque__" and isinstance(body, str):
        return ck.Opaque(body)
    if tag == "__skipped__" and isinstance(body, str):
        return ck.Skipped(body)
    if tag in ("__tuple__", "__list__") and isinstance(body, list):
        items = [decode(v, arrays, ck, depth + 1) for v in body]
        return tuple(items) if tag == "__tuple__" else items
    if tag == "__dict__" and isinstance(body, list):
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                raise CodecError("bad dict item")
            out[item[0]] = decode(item[1], arrays, ck, depth + 1)
        return out
    raise CodecError(f"unknown tag {tag!r}")


def _strs(body: Any, n: int) -> bool:
    return isinstance(body, list) and len(body) == n and all(isinstance(s, str) for s in body)


def encode_call(call: Any, arrays: dict[str, Any], ck: Any) -> dict[str, Any]:
    return {
        "func": call.func,
        "args": encode(tuple(call.args), arrays, ck),
        "kwargs": encode(dict(call.kwargs), arrays, ck),
        "on": call.on,
        "save": call.save,
        "ret": bool(call.ret),
    }


def decode_call(d: dict[str, Any], arrays: Any, ck: Any) -> Any:
    return ck.Call(
        func=d["func"],
        args=tuple(decode(d["args"], arrays, ck)),
        kwargs=decode(d["kwargs"], arrays, ck),
        on=d["on"],
        save=d["save"],
        ret=d["ret"],
    )


# --------------------------------------------------------------------------------------------
# Isolation (before any thread exists and before student code)
# --------------------------------------------------------------------------------------------

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
MS_BIND, MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 0x1000, 0x4000, 0x40000, 0x2, 0x4


def _libc() -> Any:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(libc: Any, src: str | None, dst: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    import ctypes

    enc = [None if s is None else s.encode() for s in (src, dst, fstype)]
    if libc.mount(enc[0], enc[1], enc[2], flags, None if data is None else data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} -> {dst}: {os.strerror(err)}")


def enter_user_namespace() -> str | None:
    """Not root: a user namespace mapping our own uid and gid to themselves, in which the mount
    and network namespaces of :func:`isolate` need no privilege. Returns a note when refused."""
    uid, gid = os.getuid(), os.getgid()
    try:
        refused = _libc().unshare(CLONE_NEWUSER) != 0
    except AttributeError:  # a libc without unshare
        refused = True
    if refused:
        return ("no user namespace (the kernel refuses unprivileged ones): the submission could "
                "read and write every file you can; grade as root or enable user namespaces")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    return None


def drop_capabilities() -> str | None:
    """Give up the capabilities a user namespace grants its creator, for good: without them the
    student's code cannot unmount the covers laid by :func:`isolate`."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "could not set no_new_privs"
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()) != 0:  # version 3
        return "could not drop the user namespace's capabilities: isolation may be undone"
    return None


def _reachable(path: str, uid: int) -> bool:
    """Whether ``uid`` can traverse every ancestor directory of ``path``."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts)):
        st = os.stat(os.sep.join(parts[:i]) or os.sep)
        if st.st_uid != uid and not st.st_mode & 0o001:
            return False
    return True


def isolate(plan: dict[str, Any]) -> list[str]:
    """New network + mount namespace; hide secrets; keep the interpreter reachable by ``uid``.

    ``plan["hide"]`` paths get an empty tmpfs (directories) or /dev/null (files) laid over them,
    ``plan["tmpfs"]`` (/tmp, /dev/shm) get a private one, and the paths in ``plan["keep"]`` (the
    sandbox dir, the interpreter, site-packages) are bind-mounted back where a cover hid them or
    where an ancestor the sandbox uid cannot traverse (e.g. /root) had to be covered.
    Returns notes about what could not be done (the parent reports them).
    """
    notes: list[str] = []
    libc = _libc()
    if libc.unshare(CLONE_NEWNET) != 0:
        notes.append("no network namespace")
    if libc.unshare(CLONE_NEWNS) != 0:
        notes.append("no mount namespace: relying on file permissions")
        return notes
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    uid = plan["uid"]
    keep = [os.path.abspath(p) for p in plan["keep"] if os.path.exists(p)]
    covers = [c for c in plan["tmpfs"] if os.path.isdir(c)]
    for p in keep:
        parts = p.split(os.sep)
        for i in range(2, len(parts)):
            anc = os.sep.join(parts[:i])
            st = os.stat(anc)
            if st.st_uid != uid and not st.st_mode & 0o001:
                covers.append(anc)
                break
    covers += [h for h in plan["hide"] if os.path.isdir(h)]
    # Only outermost covers first (what lies below them is gone anyway).
    covers = sorted({c for c in covers if not any(o != c and _under(c, o) for o in covers)},
                    key=len)
    # O_PATH descriptors survive the covering mounts and serve as bind sources afterwards.
    held = [(os.open(p, os.O_PATH), p) for p in keep if any(_under(p, c) for c in covers)]
    for c in covers:
        _mount(libc, "tmpfs", c, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
    for fd, p in sorted(held, key=lambda t: len(t[1])):
        os.makedirs(p, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
        os.close(fd)
    # Secrets inside a kept tree (visible again after the re-bind) are covered last.
    for h in plan["hide"]:
        if h in covers or not any(_under(h, k) for k in keep):
            continue
        if os.path.isdir(h):
            _mount(libc, "tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
        elif os.path.isfile(h):
            _mount(libc, "/dev/null", h, None, MS_BIND)
    for h in plan["hide"]:
        if os.path.isfile(h) and not any(_under(h, k) for k in keep):
            _mount(libc, "/dev/null", h, None, MS_BIND)
    # The working dir is a size-limited tmpfs: writing many files cannot fill the grader's disk.
    _mount(libc, "tmpfs", plan["workdir"], "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={plan['work_bytes']},mode=0700,uid={uid},gid={plan['gid']}")
    return notes


def _under(path: str, ancestor: str) -> bool:
    path, ancestor = os.path.abspath(path), os.path.abspath(ancestor)
    return path == ancestor or path.startswith(ancestor.rstrip(os.sep) + os.sep)


def set_limits(limits: dict[str, int]) -> None:
    import resource
    import signal

    for name, value in limits.items():
        res = getattr(resource, name)
        resource.setrlimit(res, (value, value))
    # A too-large write fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class CappedWriter:
    """Text stream keeping only the first ``cap`` characters: a 100 MB print costs nothing."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd, self._left = fd, cap
        self.encoding = "utf-8"

    def write(self, s: str) -> int:
        if self._left > 0 and isinstance(s, str):
            chunk = s[: self._left]
            self._left -= len(chunk)
            try:
                os.write(self._fd, chunk.encode("utf-8", "replace"))
            except OSError:
                self._left = 0
        return len(s) if isinstance(s, str) else 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class TimeLimitExceeded(BaseException):
    """Raised by SIGALRM inside a check that runs past its time budget."""


def _alarm(signum: int, frame: Any) -> None:
    raise TimeLimitExceeded(f"took longer than {_BUDGET[0]:g} s (an infinite loop?)")


_BUDGET = [0.0]


def _write_json_atomic(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main(sandbox: str) -> None:  # pragma: no cover - runs in the child process
    with open(os.path.join(sandbox, "plan.json"), encoding="utf-8") as f:
        plan = json.load(f)
    notes: list[str] = []
    if plan["isolate"] and not sys.platform.startswith("linux"):
        notes.append(f"no mount or network namespaces on {sys.platform}: the submission could "
                     "read and write every file the grader can")
    elif plan["isolate"] and plan["uid"] is not None:
        notes += isolate(plan)  # as root; the drop to plan["uid"] below removes all privilege
    elif plan["isolate"]:
        refused = enter_user_namespace()
        if refused:
            notes.append(refused)
        else:
            notes += isolate({**plan, "uid": os.getuid(), "gid": os.getgid()})
            notes += [n for n in [drop_capabilities()] if n]
    sys.path[:] = [os.path.dirname(os.path.abspath(__file__))] + plan["sys_path"]

    import signal
    import types

    import numpy as np

    # torch costs ~1 s to import: only when the code or the steps need it, or when the uid
    # could not import it later (no mount namespace to keep the interpreter reachable).
    if plan["needs_torch"] or any("mount namespace" in n for n in notes):
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass
    import checkkit as ck  # the copy next to this file, not the grader's

    with np.load(os.path.join(sandbox, "plan.npz"), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    checks = [
        (c["index"], c["name"], float(c["timeout"]),
         [decode_call(s, arrays, ck) for s in c["steps"]])
        for c in plan["checks"]
    ]
    out = os.path.join(sandbox, "out")
    set_limits(plan["limits"])
    os.chdir(os.path.join(sandbox, "work"))
    # Written before the privilege drop, into a directory the sandbox uid cannot write: the
    # student's code cannot remove it (which would look like a grader failure).
    with open(os.path.join(sandbox, "ready"), "w") as f:
        f.write(plan["nonce"])
    if plan["uid"] is not None:
        os.setgroups([])
        os.setgid(plan["gid"])
        os.setuid(plan["uid"])
    sys.stdout = CappedWriter(1, plan["output_cap"])
    sys.stderr = CappedWriter(2, plan["output_cap"])

    # The student's code, one top-level statement at a time: a class body that raises does not
    # take the functions defined after it down with it.
    import ast

    module = types.ModuleType("submission")
    sys.modules["submission"] = module
    ns = module.__dict__
    load_errors = []
    for node in ast.parse(plan["code"]).body:
        try:
            exec(compile(ast.Module([node], []), "<your notebook>", "exec"), ns)  # noqa: S102
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            load_errors.append(f"line {node.lineno}: {type(exc).__name__}: {first}")
    _write_json_atomic(os.path.join(out, "loaded.json"),
                       {"nonce": plan["nonce"], "errors": load_errors, "notes": notes})

    signal.signal(signal.SIGALRM, _alarm)
    main_pid = os.getpid()
    for index, name, timeout, steps in checks:
        _BUDGET[0] = timeout
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            results = ck.execute_steps(ns, steps)
        except BaseException as exc:  # noqa: BLE001 - a timeout between two steps
            results = [ck.Raised(type(exc).__name__, str(exc)[:300])] * len(steps)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if os.getpid() != main_pid:
            os._exit(0)  # a fork of the student's that returned here must not write results
        res_arrays: dict[str, Any] = {}
        try:
            enc = [encode(r, res_arrays, ck) for r in results]
        except Exception as exc:  # noqa: BLE001
            enc = [encode(ck.Opaque(f"unencodable ({exc})"), {}, ck)] * len(results)
            res_arrays = {}
        base = os.path.join(out, f"{index:03d}")
        np.savez(base + ".tmp.npz", **res_arrays)
        os.replace(base + ".tmp.npz", base + ".npz")  # npz before json: json marks "done"
        _write_json_atomic(base + ".json", {"nonce": plan["nonce"], "check": name,
                                            "results": enc})
    # Skip atexit handlers and finalizers the student may have registered.
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1])
