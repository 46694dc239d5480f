"""What crosses the sandbox boundary: plain-data steps, plain-data results, and their codec.

Used by both sides: the grader encodes steps and decodes results, the child decodes steps and
encodes results. Nothing here trusts its input: :class:`FrameReader` checks every size against
:class:`Caps` *before* allocating (frame bytes, JSON nesting depth, array count, elements,
dtypes), arrays travel as raw buffers (no compression, no pickle), and anything malformed is a
:class:`ProtocolError`.

A frame is ``u32 length | u32 header length | JSON header | array buffers``; the header is
``{"kind": str, "body": tree, "arrays": [[dtype, shape], ...]}`` where the tree holds JSON
scalars, lists, and one-key tagged objects (``{"__tuple__": [...]}``, ``{"__array__": i}``, ...).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# Steps: what the grader asks the child to run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value saved by an earlier step of the same case (``Call(save=name)``), maybe indexed:
    ``Ref("fwd", 1)`` is the ``cache`` of an ``(out, cache)`` pair."""

    name: str
    index: int | str | None = None


@dataclass(frozen=True)
class AsTensor:
    """Pass ``array`` to the student's code as a ``torch.Tensor`` of the same dtype."""

    array: np.ndarray
    requires_grad: bool = False


@dataclass(frozen=True)
class Call:
    """One step: call ``func`` (a top-level name of the student's code; with ``on``, a method of
    a saved object; or a probe ``"@name"``) with ``args``/``kwargs`` (plain data, arrays, Ref,
    AsTensor, nested). ``save`` keeps the return value for later steps of the case; ``ret``
    sends it back. The child passes fresh copies, so the student may mutate them."""

    func: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    on: str | None = None
    save: str | None = None
    ret: bool = True


# --------------------------------------------------------------------------------------------
# Results: what comes back, one per step
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raised:
    """The step raised: ``type`` is the nearest built-in exception class (``"ValueError"`` for a
    student's ``class E(ValueError)``), ``message`` its text. ``cell``/``line``: the innermost
    frame of the student's own code; ``own``: that frame is where it was raised (not inside
    numpy). ``deliberate`` is never sent by the child: the grader sets it after reading the
    student's source at that line (a ``raise`` or ``assert`` statement)."""

    type: str
    message: str
    cell: str | None = None
    line: int | None = None
    own: bool = False
    deliberate: bool = False


@dataclass(frozen=True)
class Opaque:
    """A return value that is not plain data (a cache object, a module): only its type name."""

    type: str


class NotRunKind(StrEnum):
    """Why a step has no result."""

    DEPENDENCY = "dependency"  # it needs the value of an earlier step that failed
    CRASHED = "crashed"        # the process died during this case
    TIMEOUT = "timeout"        # this case ran past its time
    BUDGET = "budget"          # the submission's total time was spent
    GARBLED = "garbled"        # what came back was not a well-formed result
    NO_SANDBOX = "no_sandbox"  # the sandbox could not be started (the grader's failure)
    NOT_LOADED = "not_loaded"  # the code could not be loaded at all
    UNDEFINED = "undefined"    # the function to call is not defined (detail: its name)


@dataclass(frozen=True)
class NotRun:
    """No result for this step; ``detail`` is plain words (the failed step, the exit status)."""

    kind: NotRunKind
    detail: str = ""


# --------------------------------------------------------------------------------------------
# Codec
# --------------------------------------------------------------------------------------------


class ProtocolError(ValueError):
    """Malformed or oversized data on the channel."""


@dataclass(frozen=True)
class Caps:
    """Upper bounds a reader enforces before allocating anything.

    frame_bytes: one frame in all; depth: JSON nesting; arrays/elements: per frame.
    """

    frame_bytes: int = 64 * 2**20
    depth: int = 40
    arrays: int = 10_000
    elements: int = 8 * 2**20


_HEAD = struct.Struct("<II")
_DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
_MAX_TREE_DEPTH = 12  # encoder: deeper values become Opaque


def _dtype_code(dt: np.dtype) -> str | None:
    code = f"{dt.kind}{dt.itemsize}"
    return code if code in _DTYPES and dt.isnative else None


def encode(value: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    """``value`` as a JSON-able tree; arrays are appended to ``arrays`` and referenced by index.

    Plain data (None, bool, int, float, str, list, tuple, dict with str/int keys), numpy arrays
    and scalars, and the types of this module are encoded; anything else raises TypeError.
    """
    if depth > _MAX_TREE_DEPTH:
        raise TypeError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return encode(value.item(), arrays, depth)
    if isinstance(value, np.ndarray):
        arr = np.array(value, order="C", copy=True)  # ascontiguousarray would make 0-d 1-d
        if _dtype_code(arr.dtype) is None:
            raise TypeError(f"array of dtype {arr.dtype}")
        arrays.append(arr)
        return {"__array__": len(arrays) - 1}
    d = depth + 1
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays, d) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays, d) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            raise TypeError("dict keys must be str or int")
        return {"__dict__": [[k, encode(v, arrays, d)] for k, v in value.items()]}
    if isinstance(value, Ref):
        return {"__ref__": [value.name, encode(value.index, arrays, d)]}
    if isinstance(value, AsTensor):
        return {"__tensor__": [encode(np.asarray(value.array), arrays, d),
                               bool(value.requires_grad)]}
    if isinstance(value, Call):
        return {"__call__": [value.func, encode(tuple(value.args), arrays, d),
                             encode(dict(value.kwargs), arrays, d), value.on, value.save,
                             bool(value.ret)]}
    if isinstance(value, Raised):
        return {"__raised__": [value.type, value.message, value.cell, value.line,
                               bool(value.own)]}
    if isinstance(value, Opaque):
        return {"__opaque__": value.type}
    if isinstance(value, NotRun):
        return {"__notrun__": [str(value.kind), value.detail]}
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(tree: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    """Inverse of :func:`encode`, strict: anything unexpected raises ProtocolError."""
    if depth > _MAX_TREE_DEPTH + 2:
        raise ProtocolError("nested too deeply")
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    d = depth + 1
    if isinstance(tree, list):
        return [decode(v, arrays, d) for v in tree]
    if not (isinstance(tree, dict) and len(tree) == 1):
        raise ProtocolError(f"unexpected {type(tree).__name__} in encoded data")
    tag, body = next(iter(tree.items()))
    if tag == "__float__" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "__array__" and isinstance(body, int) and not isinstance(body, bool):
        if not 0 <= body < len(arrays):
            raise ProtocolError(f"array {body} missing")
        return arrays[body]
    if tag == "__tuple__" and isinstance(body, list):
        return tuple(decode(v, arrays, d) for v in body)
    if tag == "__dict__" and isinstance(body, list):
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2
                    and isinstance(item[0], (str, int)) and not isinstance(item[0], bool)):
                raise ProtocolError("bad dict item")
            out[item[0]] = decode(item[1], arrays, d)
        return out
    return _decode_typed(tag, body, arrays, d)


def _decode_typed(tag: str, body: Any, arrays: list[np.ndarray], d: int) -> Any:
    if tag == "__ref__" and _shape(body, str, None):
        index = decode(body[1], arrays, d)
        if index is not None and not isinstance(index, (int, str)):
            raise ProtocolError("bad Ref index")
        return Ref(body[0], index)
    if tag == "__tensor__" and _shape(body, None, bool):
        arr = decode(body[0], arrays, d)
        if not isinstance(arr, np.ndarray):
            raise ProtocolError("tensor without an array")
        return AsTensor(arr, body[1])
    if tag == "__call__" and isinstance(body, list) and len(body) == 6 \
            and isinstance(body[0], str) and all(isinstance(x, (str, type(None)))
                                                 for x in body[3:5]) and isinstance(body[5], bool):
        args, kwargs = decode(body[1], arrays, d), decode(body[2], arrays, d)
        if not (isinstance(args, tuple) and isinstance(kwargs, dict)
                and all(isinstance(k, str) for k in kwargs)):
            raise ProtocolError("bad call arguments")
        return Call(body[0], args, kwargs, body[3], body[4], body[5])
    if tag == "__raised__" and isinstance(body, list) and len(body) == 5 \
            and isinstance(body[0], str) and isinstance(body[1], str) \
            and isinstance(body[2], (str, type(None))) and isinstance(body[4], bool) \
            and (body[3] is None or (isinstance(body[3], int) and not isinstance(body[3], bool))):
        return Raised(body[0], body[1], body[2], body[3], body[4])
    if tag == "__opaque__" and isinstance(body, str):
        return Opaque(body)
    if tag == "__notrun__" and _shape(body, str, str) and body[0] in set(NotRunKind):
        return NotRun(NotRunKind(body[0]), body[1])
    raise ProtocolError(f"unknown tag {str(tag)[:40]!r}")


def _shape(body: Any, first: type | None, second: type | None) -> bool:
    return (isinstance(body, list) and len(body) == 2
            and (first is None or isinstance(body[0], first))
            and (second is None or isinstance(body[1], second)))


def pack(kind: str, body: Any) -> bytes:
    """One frame carrying ``body`` (see :func:`encode`) under ``kind``."""
    arrays: list[np.ndarray] = []
    tree = encode(body, arrays)
    meta = [[_dtype_code(a.dtype), list(a.shape)] for a in arrays]
    header = json.dumps({"kind": kind, "body": tree, "arrays": meta},
                        separators=(",", ":")).encode("utf-8")
    blobs = b"".join(a.tobytes() for a in arrays)
    return _HEAD.pack(_HEAD.size - 4 + len(header) + len(blobs), len(header)) + header + blobs


#: A JSON string (escapes included) or an unterminated one running to the end; possessive, so
#: every match succeeds in one pass: linear time whatever the input.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(raw: bytes, limit: int) -> int:
    """Nesting depth of a JSON text, without parsing it (strings skipped); stops counting once
    it passes ``limit`` (the reader refuses such a text anyway)."""
    # strings out and everything but brackets dropped in C: the loop sees only the brackets
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    depth = best = 0
    for b in brackets:
        if b in (0x5B, 0x7B):
            depth += 1
            if depth > best:
                best = depth
                if best > limit:
                    return best
        else:
            depth -= 1
    return best


def unpack(payload: bytes, caps: Caps) -> tuple[str, Any]:
    """``(kind, body)`` of one frame's payload (everything after the length word)."""
    if len(payload) < 4:
        raise ProtocolError("truncated frame")
    (hlen,) = struct.unpack_from("<I", payload)
    if hlen > len(payload) - 4:
        raise ProtocolError("header longer than the frame")
    raw = payload[4: 4 + hlen]
    if json_depth(raw, caps.depth) > caps.depth:
        raise ProtocolError("nested too deeply")
    try:
        head = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"header is not JSON ({type(exc).__name__})") from None
    if not (isinstance(head, dict) and set(head) == {"kind", "body", "arrays"}
            and isinstance(head["kind"], str) and isinstance(head["arrays"], list)):
        raise ProtocolError("bad header")
    arrays = _arrays(head["arrays"], payload, 4 + hlen, caps)
    return head["kind"], decode(head["body"], arrays)


def _arrays(meta: list, payload: bytes, offset: int, caps: Caps) -> list[np.ndarray]:
    if len(meta) > caps.arrays:
        raise ProtocolError(f"more than {caps.arrays} arrays")
    specs, elements, nbytes = [], 0, 0
    for m in meta:
        if not (isinstance(m, list) and len(m) == 2 and m[0] in _DTYPES
                and isinstance(m[1], list) and len(m[1]) <= 32
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31
                        for n in m[1])):
            raise ProtocolError("bad array description")
        dt = np.dtype(m[0])
        count = math.prod(m[1])
        elements += count
        nbytes += count * dt.itemsize
        if elements > caps.elements:
            raise ProtocolError(f"more than {caps.elements} array elements")
        specs.append((dt, tuple(m[1]), count))
    if offset + nbytes != len(payload):
        raise ProtocolError("array data does not match its description")
    out = []
    for dt, shape, count in specs:
        end = offset + count * dt.itemsize
        out.append(np.frombuffer(payload, dtype=dt, count=count, offset=offset)
                   .reshape(shape).copy())
        offset = end
    return out


class FrameReader:
    """Collects bytes from a stream and yields whole frames, refusing oversized ones as soon as
    their length word arrives."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= 4:
            (n,) = struct.unpack_from("<I", self._buf)
            if n > self.caps.frame_bytes:
                raise ProtocolError(f"a frame of {n} bytes (more than the "
                                    f"{self.caps.frame_bytes} accepted)")

    def next_frame(self) -> tuple[str, Any] | None:
        """The next complete frame, or None when more bytes are needed."""
        if len(self._buf) < 4:
            return None
        (n,) = struct.unpack_from("<I", self._buf)
        if len(self._buf) < 4 + n:
            return None
        payload = bytes(self._buf[4: 4 + n])
        del self._buf[: 4 + n]
        return unpack(payload, self.caps)

    @property
    def pending(self) -> int:
        return len(self._buf)
