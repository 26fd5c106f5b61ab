"""Child process of ``code_tests``: confines itself, then evaluates what the parent asks for.

Run as ``python -I _code_child.py`` (inside ``unshare`` when the machine allows it) in a fresh
temporary directory; it does not import rewardlab. Everything after the solution starts running
is untrusted, so this process never judges a test: it only sends values, and the parent (the
trainer) compares them. Protocol, one JSON object per line:

* parent -> fd 0: first the set-up ``{"n", "solution", "limits", "tmp", "sandbox", "read_ok"}``,
  then one ``{"n", "code"}`` per test; ``n`` is a fresh random nonce for each.
* child -> fd 1: ``{"n", "phase": "load"|"done", "ok", "error", "blocked"}`` when the solution
  or a test finishes, and ``{"n", "site", "values"}`` (or ``"bad"``: a value that is not plain
  data) for each ``assert`` the test reaches; the parent answers ``{"n", "pass"}`` and the child
  raises AssertionError on a fail, so control flow stays that of the original test.

Before the solution runs this process: mounts the root read-only with only its temporary
directory writable and drops every capability (when started in a user + mount namespace), sets
resource limits, points fds 0/1/2 of the solution at /dev/null, and installs an audit hook that
refuses (and reports as ``blocked``) network, process creation, signals, ctypes, frame and gc
introspection, opening files outside the allowed read roots, and writing outside its directory.
"""

import json
import os
import resource
import sys

# Audit events refused outright: network, new processes, signals, foreign code (which could
# unhook the audit hook), raising resource limits.
BLOCKED = (
    "socket.",
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "os.setuid",
    "os.unshare",
    "ctypes.",
    "_posixsubprocess",
    "pty.spawn",
    "resource.setrlimit",
    "resource.prlimit",
)
CHANNEL_BROKEN = 86  # exit status: the solution closed or replaced the harness's pipes
# Audit events that change the file system at a path (first argument; the second for renames).
PATH_WRITES = {
    "os.remove": 1,
    "os.rename": 2,
    "os.replace": 2,
    "os.mkdir": 1,
    "os.rmdir": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.link": 2,
    "os.symlink": 2,
    "os.truncate": 1,
    "os.utime": 1,
    "shutil.rmtree": 1,
    "shutil.copyfile": 2,
    "shutil.move": 2,
}
DEVICES_OK = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in Linux 5.12)
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24


def confine_file_system(tmp):
    """Read-only root, ``tmp`` writable, no capabilities left (we are root of a new user ns)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc, what):
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    class MountAttr(ctypes.Structure):
        _fields_ = [(k, ctypes.c_uint64) for k in ("attr_set", "attr_clr", "propagation", "userns_fd")]

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class CapData(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    path = tmp.encode()
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    check(libc.mount(path, path, None, MS_BIND, None), "bind the work directory")
    ro = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    check(
        libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(ro), ctypes.sizeof(ro)),
        "read-only root",
    )
    rw = MountAttr(0, MOUNT_ATTR_RDONLY, 0, 0)
    check(
        libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path, 0, ctypes.byref(rw), ctypes.sizeof(rw)),
        "writable work directory",
    )
    # Without capabilities the namespace's root cannot undo the mounts above.
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header, data = CapHeader(0x20080522, 0), (CapData * 2)()
    check(libc.capset(ctypes.byref(header), data), "drop capabilities")
    os.chdir(tmp)  # the old working directory still points into the read-only mount


PLAIN = (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)


def plain(value):
    """``value`` as an object of an exact plain type, or TypeError naming its type.

    Exact plain types pass; so do values whose equality is that of a plain type: subclasses
    that do not override ``__eq__`` (namedtuple, IntEnum), the collections containers, numpy
    scalars and arrays (Fraction and Decimal are tagged by :func:`encode`). Any conversion is safe (the parent compares what it receives, and a
    lying conversion equals returning that value); an object with its own ``__eq__`` (one that
    is equal to everything) is refused, and the parent counts that as a violation."""
    t = type(value)
    if value is None or t in PLAIN:
        return value
    if t.__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    for base in PLAIN:
        if isinstance(value, base) and t.__eq__ is base.__eq__:
            return base(value) if base is not bool else bool(int(value))
    collections = sys.modules.get("collections")
    if collections is not None:
        if t in (collections.Counter, collections.OrderedDict, collections.defaultdict):
            return dict(value)
        if t is collections.deque:
            return list(value)
    raise TypeError(f"{t.__module__}.{t.__qualname__}")


def encode(value, depth=0):
    """Plain data as JSON: tuples, sets, dicts with any keys, bytes and complex tagged; a
    Fraction or Decimal as ``{"fraction": [n, d]}`` / ``{"decimal": "1.5"}``."""
    if depth > 100:
        raise TypeError("nested deeper than 100")
    for module, name in (("fractions", "Fraction"), ("decimal", "Decimal")):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and type(value) is cls:
            if name == "Fraction":
                return {"fraction": [int(value.numerator), int(value.denominator)]}
            return {"decimal": str(value)}
    value = plain(value)
    t = type(value)
    if value is None or t is bool or t is int or t is float or t is str:
        if t is int:
            str(value)  # ints too long to print (sys.set_int_max_str_digits) fail here
        return value
    if t is list:
        return [encode(v, depth + 1) for v in value]
    if t is tuple:
        return {"t": [encode(v, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "fs": [encode(v, depth + 1) for v in value]}
    if t is bytes:
        return {"b": value.hex()}
    return {"c": [value.real, value.imag]}


def main():
    requests = os.fdopen(os.dup(0), "rb")
    out_fd = os.dup(1)
    setup = json.loads(requests.readline())
    tmp = os.path.realpath(setup["tmp"])
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - input() in a solution reads nothing
    if setup["sandbox"]:
        confine_file_system(tmp)
    limits = setup["limits"]
    mem = limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    fsize = limits["file_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The interpreter's own files (stdlib, site-packages) stay readable so solutions can import.
    roots = [*setup["read_ok"], *(p for p in sys.path if p), sys.prefix, sys.base_prefix, sys.exec_prefix]
    read_ok = tuple(dict.fromkeys(os.path.realpath(p) for p in roots)) + (tmp,)
    blocked = []

    def under(path, roots):
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    def refuse(what):
        blocked.append(what)
        raise PermissionError(f"{what} is not allowed inside code_tests")

    def audit(event, args):
        if event.startswith(BLOCKED):
            refuse(event)
        elif event == "open":
            path, mode, flags = args
            if isinstance(path, int) or path is None:
                return
            real = os.path.realpath(os.fsdecode(path))
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                (flags or 0) & WRITE_FLAGS
            )
            if real in DEVICES_OK:
                return
            if writes and not under(real, (tmp,)):
                refuse(f"writing {real}")
            if not under(real, read_ok) or under(real, ("/proc", "/sys", "/dev")):
                refuse(f"reading {real}")
        elif event in ("os.listdir", "os.scandir"):
            path = args[0]
            if isinstance(path, str | bytes) and not under(os.path.realpath(os.fsdecode(path)), read_ok):
                refuse(f"listing {os.fsdecode(path)}")
        elif event in PATH_WRITES:
            for p in args[: PATH_WRITES[event]]:
                if isinstance(p, str | bytes) and not under(os.path.realpath(os.fsdecode(p)), (tmp,)):
                    refuse(f"{event} {os.fsdecode(p)}")

    def identity(fd):
        st = os.fstat(fd)
        return st.st_dev, st.st_ino

    pipes = {fd: identity(fd) for fd in (requests.fileno(), out_fd)}

    def intact():
        # The solution may close or dup2 over our fds; then the parent must hear it from the exit
        # status, not wait for a message that is going to /dev/null.
        try:
            if all(identity(fd) == ident for fd, ident in pipes.items()):
                return
        except OSError:
            pass
        os._exit(CHANNEL_BROKEN)

    def send(msg):
        intact()
        data = (json.dumps(msg) + "\n").encode()
        try:
            while data:
                data = data[os.write(out_fd, data) :]
        except OSError:
            os._exit(CHANNEL_BROKEN)

    def receive():
        intact()
        line = requests.readline()
        return json.loads(line) if line else None

    def finished(nonce, phase, error):
        send({"n": nonce, "phase": phase, "ok": error is None, "error": error, "blocked": blocked[:20]})

    def describe(e):
        return f"{type(e).__name__}: {e}"[:300]

    sys.addaudithook(audit)
    namespace = {"__name__": "__main__"}
    nonce = setup["n"]

    def check(site, *values):
        try:
            send({"n": nonce, "site": site, "values": [encode(v) for v in values]})
        except (TypeError, ValueError, RecursionError) as e:
            send({"n": nonce, "site": site, "bad": str(e)[:200]})
        answer = receive()
        if not answer or not answer.get("pass"):
            raise AssertionError(f"assert {site} failed")

    try:
        exec(compile(setup["solution"], "<solution>", "exec"), namespace)  # noqa: S102 - sandboxed
        finished(nonce, "load", None)
    except BaseException as e:  # noqa: BLE001 - anything the solution does is its failure, never ours
        finished(nonce, "load", describe(e))
        return
    namespace["__rewardlab_check__"] = check
    while (request := receive()) is not None:
        nonce = request["n"]
        try:
            exec(compile(request["code"], "<test>", "exec"), namespace)  # noqa: S102
            finished(nonce, "done", None)
        except BaseException as e:  # noqa: BLE001
            finished(nonce, "done", describe(e))


if __name__ == "__main__":
    main()
