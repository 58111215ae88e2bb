"""What the fault-injection scripts share: the release binary, Debian
packages, a private home for the daemon, a private sound server with a null
sink, a recorder of that sink, and the report row.

Every script runs the real release daemon with its own XDG folders (as the
tests do, see tests/common/home.rs) and plays into the null sink of a
PulseAudio server of its own (scripts/sound-server start --private with its
own MC_SOUND_DIR), which it stops afterwards. Nothing outside its temporary
folder is touched.
"""

import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RATE = 48_000
# the null sink's silence is exact zeros; speech peaks far above this
LOUD = 0.01


def log(name, *args):
    print(f"fault/{name}:", *args, file=sys.stderr, flush=True)


class Failed(Exception):
    """Something that should have held did not."""


# ---------------------------------------------------------------- setup


def ensure_packages(name, needs):
    """`needs` maps a command to the Debian package that provides it;
    installs the missing ones (apt-get update first), as root only."""
    missing = sorted({pkg for cmd, pkg in needs.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"fault/{name}: missing Debian packages {' '.join(missing)}; "
            f"run as root or: sudo apt-get install {' '.join(missing)}")
    log(name, "installing", *missing)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def sound_packages(name):
    ensure_packages(name, {"pulseaudio": "pulseaudio", "pactl": "pulseaudio-utils",
                           "parec": "pulseaudio-utils"})
    if not any(os.path.exists(os.path.join(d, "libasound_module_pcm_pulse.so"))
               for d in _alsa_dirs()):
        ensure_packages(name, {"__no_such_command__": "libasound2-plugins"})


def _alsa_dirs():
    for base in ("/usr/lib", "/usr/lib64"):
        if os.path.isdir(base):
            for sub in os.listdir(base):
                yield os.path.join(base, sub, "alsa-lib")
            yield os.path.join(base, "alsa-lib")


def build(name):
    """The release binary, built if needed; MASSAGE_CUE_BIN names another
    one (its figures are then not those of the release build)."""
    if os.environ.get("MASSAGE_CUE_BIN"):
        log(name, "using", os.environ["MASSAGE_CUE_BIN"])
        return os.environ["MASSAGE_CUE_BIN"]
    log(name, "cargo build --release")
    subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "massage-cue")


def seeded(name, seed):
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    log(name, f"seed {seed} (run again with --seed {seed} to repeat)")
    return random.Random(seed), seed


def row(name, tried, times, held, fixed):
    print(f"| Fault: {name} | {tried} | {times} | {held} | {fixed} |", flush=True)


# ---------------------------------------------------------------- sound


class SoundServer:
    """A private PulseAudio server with the null sink `test_sink`."""

    def __init__(self, folder):
        self.dir = folder
        self.address = None
        self.start()

    def _script(self, *args):
        return subprocess.run(
            [os.path.join(ROOT, "scripts", "sound-server"), *args],
            env=dict(os.environ, MC_SOUND_DIR=self.dir), stdout=subprocess.PIPE, text=True)

    def start(self):
        out = self._script("start", "--private")
        if out.returncode != 0:
            raise SystemExit("scripts/sound-server start --private failed")
        for line in out.stdout.splitlines():
            if line.startswith("export PULSE_SERVER="):
                self.address = line.split("=", 1)[1].strip("'\"")
        if not self.address:
            raise SystemExit(f"scripts/sound-server printed no PULSE_SERVER: {out.stdout!r}")

    def pid(self):
        with open(os.path.join(self.dir, "started.pid")) as f:
            return int(f.read().strip())

    def kill(self):
        """SIGKILL, as a crash of the server."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self):
        self._script("stop")

    def env(self):
        return dict(os.environ, PULSE_SERVER=self.address)


class Recorder:
    """parec on the null sink's monitor, raw 48 kHz mono 16-bit, kept in
    memory."""

    def __init__(self, server):
        self.proc = subprocess.Popen(
            ["parec", "-d", "test_sink.monitor", "--raw", "--format=s16le",
             f"--rate={RATE}", "--channels=1", "--latency-msec=20"],
            env=server.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        self.samples = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while self.count() < RATE // 20:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise Failed("parec recorded nothing from test_sink.monitor")
            time.sleep(0.01)

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 8192)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.samples += chunk

    def count(self):
        with self.lock:
            return len(self.samples) // 2

    def peak_since(self, start):
        with self.lock:
            data = bytes(self.samples[start * 2:len(self.samples) // 2 * 2])
        if not data:
            return 0.0
        return max(abs(v) for v in struct.unpack(f"<{len(data) // 2}h", data)) / 32768

    def heard_within(self, seconds, start=None):
        """Waits up to `seconds` for sound after sample `start` (default:
        now); True once heard."""
        mark = self.count() if start is None else start
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.peak_since(mark) > LOUD:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return self.peak_since(mark) > LOUD

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=5)


# ---------------------------------------------------------------- daemon


class Home:
    """A user's folders for massage-cue, all under `root`: config, state,
    cache, runtime. Client commands run with this environment start a
    detached daemon there when none runs."""

    def __init__(self, binary, root, server=None, state=None, cache=None, extra_env=None):
        self.binary = binary
        self.root = root
        self.run_dir = os.path.join(root, "run")
        os.makedirs(self.run_dir, mode=0o700, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        self.state_home = state or os.path.join(root, "state")
        self.cache_home = cache or os.path.join(root, "cache")
        self.config_home = os.path.join(root, "config")
        self.state_dir = os.path.join(self.state_home, "massage-cue")
        self.cache_dir = os.path.join(self.cache_home, "massage-cue")
        self.socket = os.path.join(self.run_dir, "massage-cue.sock")
        base = server.env() if server else dict(os.environ)
        self.env = dict(
            base,
            HOME=root,
            XDG_RUNTIME_DIR=self.run_dir,
            XDG_STATE_HOME=self.state_home,
            XDG_CONFIG_HOME=self.config_home,
            XDG_CACHE_HOME=self.cache_home,
            XDG_DATA_HOME=os.path.join(root, "data"),
            RUST_LOG="info",
            NO_COLOR="1",
        )
        self.env.update(extra_env or {})
        # no session D-Bus: MPRIS is not what is tested here
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)

    def config(self, text):
        folder = os.path.join(self.config_home, "massage-cue")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.toml"), "w") as f:
            f.write(text)

    def run(self, *args, timeout=60):
        return subprocess.run([self.binary, *args], env=self.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)

    def ok(self, *args, timeout=60):
        out = self.run(*args, timeout=timeout)
        if out.returncode != 0:
            raise Failed(f"massage-cue {' '.join(args)} exited {out.returncode}: "
                         f"{out.stderr.strip()}")
        return out

    def status(self):
        """`status --json` (starts the daemon when none runs)."""
        return json.loads(self.ok("status", "--json").stdout)

    def ask(self, request, **fields):
        """One request straight over the socket; the reply."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(self.socket)
            s.sendall(json.dumps(dict(version=1, request=request, **fields)).encode() + b"\n")
            return json.loads(s.makefile("rb").readline())

    def pid(self):
        """The running daemon's pid, from its lock file."""
        try:
            with open(self.socket + ".lock") as f:
                text = f.read().strip()
            pid = int(text)
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def wait_status(self, what, patience, ready):
        deadline = time.monotonic() + patience
        status = None
        while time.monotonic() < deadline:
            status = self.status()
            if ready(status):
                return status
            time.sleep(0.2)
        raise Failed(f"timed out waiting for {what}; last status: {status}")

    def log_path(self):
        return os.path.join(self.state_dir, "daemon.log")

    def log_text(self):
        try:
            with open(self.log_path(), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def shutdown(self):
        """Stops the daemon of this home, if one runs: SIGTERM, then
        SIGKILL after 10 s."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def alive(pid):
    """Whether anything of process `pid` still runs. A killed process whose
    main thread is a zombie may still have threads on their way out, which
    hold its open files (the daemon's listening socket): it is dead only
    once they are gone too."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            zombie = f.read().rsplit(") ", 1)[1].split()[0] in ("Z", "X")
        return not zombie or len(os.listdir(f"/proc/{pid}/task")) > 1
    except (OSError, IndexError):
        return False


def kill9(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.005)


def state(status):
    return status.get("state")


def message(status):
    return (status.get("message") or "").lower()


def workspace(prefix):
    return tempfile.mkdtemp(prefix=f"massage-cue-fault-{prefix}-")
