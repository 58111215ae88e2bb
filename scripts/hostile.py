#!/usr/bin/env python3
"""Hostile input; run by scripts/hostile, which builds the release binary
and makes the private folder.

  hostile.py BIN WORK

1. The socket, against a running daemon: a 100 MB line streamed, binary
   garbage and malformed JSON, 500 half-sent and 500 silent connections
   held past the 10 s line limit, 10,000 connections opened and dropped.
   The daemon's resident memory (VmRSS, and its peak: VmHWM, reset before
   each test through /proc/PID/clear_refs) and open file descriptors are
   sampled; it must answer `status` during and after each.
2. Routine files through `check` and the daemon's `start`: over the size
   limit, just under it with many steps or many problems, deeply nested,
   full of control characters, escape sequences and bidirectional
   overrides; a pipe and a device named as a routine.
3. Phrases with shell metacharacters rendered through a text-to-speech
   command that records the arguments (and standard input) it is given.

Prints one Markdown table row per test on stdout, progress on stderr;
exits 1 if anything did not hold.
"""

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import wave
import math

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reportrows import Report  # noqa: E402

REPORT = Report("hostile")
log, row, FAILURES = REPORT.log, REPORT.row, REPORT.failures

MB = 1024 * 1024
MAX_LINE = 64 * 1024
HALF_LINE = b'{"version":1,"requ'


class Home:
    """HOME and every XDG folder inside one private folder."""

    def __init__(self, binary, root, name):
        self.binary = binary
        self.root = os.path.join(root, name)
        os.makedirs(self.root)
        self.run_dir = os.path.join(self.root, "run")
        os.makedirs(self.run_dir, mode=0o700)
        self.socket = os.path.join(self.run_dir, "massage-cue.sock")
        self.env = dict(
            os.environ,
            HOME=self.root,
            XDG_RUNTIME_DIR=self.run_dir,
            XDG_STATE_HOME=os.path.join(self.root, "state"),
            XDG_CONFIG_HOME=os.path.join(self.root, "config"),
            XDG_CACHE_HOME=os.path.join(self.root, "cache"),
            XDG_DATA_HOME=os.path.join(self.root, "data"),
            RUST_LOG="info",
            NO_COLOR="1",
        )
        # no sound server: sessions are not played here
        self.env.pop("PULSE_SERVER", None)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def run(self, *args, timeout=60):
        """Runs the binary; (exit code, stdout, stderr)."""
        proc = subprocess.run([self.binary, *args], env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
        return proc.returncode, proc.stdout, proc.stderr


class Daemon:
    def __init__(self, home):
        self.home = home
        self.log = open(home.path("daemon.log"), "wb")
        self.proc = subprocess.Popen([home.binary, "daemon"], env=home.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(home.socket)
                s.close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("hostile: the daemon did not start")
                time.sleep(0.01)

    def alive(self):
        return self.proc.poll() is None

    def field(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss(self):
        return self.field("VmRSS")

    def reset_peak(self):
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")

    def peak(self):
        return self.field("VmHWM")

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Sampler:
    """Samples the daemon's open file descriptors every 20 ms."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.max_fds = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                self.max_fds = max(self.max_fds, self.daemon.fds())
            except OSError:
                pass
            time.sleep(0.02)

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return self.max_fds


def connect(home, timeout=10.0):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(home.socket)
    return s


def ask_status(home, timeout=2.0):
    """Seconds a fresh connection takes to get a status reply, or an error."""
    start = time.monotonic()
    s = connect(home, timeout)
    try:
        s.sendall(b'{"version":1,"request":"status"}\n')
        line = s.makefile("rb").readline()
    finally:
        s.close()
    reply = json.loads(line)
    if reply.get("reply") != "ok":
        raise RuntimeError(f"status: {reply}")
    return time.monotonic() - start


def kib(n):
    return f"{n / 1024:.1f} MiB"


def memory_note(daemon, before):
    return (f"RSS {kib(before)} before, {kib(daemon.rss())} after, "
            f"peak {kib(daemon.peak())}")


def after_checks(daemon, home, problems, what):
    if not daemon.alive():
        problems.append(f"the daemon died during {what}")
        return
    try:
        ask_status(home)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        problems.append(f"no status after {what}: {err}")


# -- the socket ---------------------------------------------------------------

def long_lines(daemon, home, times=3, size=100 * MB):
    problems, details = [], []
    before = daemon.rss()
    daemon.reset_peak()
    for _ in range(times):
        s = connect(home)
        got = {}

        def reader():
            try:
                line = s.makefile("rb").readline()
                got["line"] = line
                got["at"] = time.monotonic()
            except OSError as err:
                got["error"] = err

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        chunk = b"x" * 65536
        sent = 0
        began = time.monotonic()
        try:
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        t.join(10)
        s.close()
        if "line" not in got or not got["line"]:
            problems.append(f"no reply to a {size // MB} MB line ({got.get('error')})")
            continue
        reply = json.loads(got["line"])
        if reply.get("kind") != "bad_request" or "longer than" not in reply.get("message", ""):
            problems.append(f"unexpected reply {reply}")
        if sent >= size:
            problems.append("the daemon read the whole line instead of closing")
        details.append(((got["at"] - began) * 1000, sent))
    after_checks(daemon, home, problems, "the long lines")
    growth = daemon.peak() - before
    if growth > 16 * 1024:
        problems.append(f"memory grew by {kib(growth)}")
    worst_ms = max(d[0] for d in details) if details else 0
    most_sent = max(d[1] for d in details) if details else 0
    row("Socket: 100 MB line",
        "a 100 MB request line without a newline, streamed in 64 KiB writes",
        f"{times}",
        f"error reply (`bad_request`, longer than 65536 bytes) after at most {worst_ms:.1f} ms, "
        f"connection closed after {most_sent / 1024:.0f} KiB were taken; "
        f"{memory_note(daemon, before)}; status answered after",
        "nothing needed", problems)


def garbage(daemon, home, connections=1000):
    problems = []
    rng = random.Random(6)
    before = daemon.rss()
    daemon.reset_peak()
    lines = replies = 0
    # malformed JSON of every shape, then random bytes
    shapes = [
        b"{", b"}", b"[]", b"null", b"1e999999", b"\"\\ud800\"", b"{\"version\":1}",
        b"{\"version\":-1,\"request\":\"status\"}", b"{\"version\":18446744073709551616}",
        b"{\"version\":1,\"request\":\"start\",\"routine\":null}",
        b"{\"version\":1,\"request\":\"start\",\"routine\":\"x\",\"options\":{\"tempo\":1e308}}",
        b"{\"version\":1,\"request\":\"start\",\"routine\":\"x\",\"options\":{\"length_ms\":-5}}",
        b"{\"version\":1,\"request\":\"shutdown\",\"request\":\"dance\"}",
        b"[" * 10000 + b"]" * 10000, b"{\"a\":" * 5000 + b"1" + b"}" * 5000,
        b"\xff\xfe\x00\x00", b"\x00" * 1000, "\u202e{}".encode(),
    ]
    for i in range(connections):
        if i < len(shapes):
            data = shapes[i] + b"\n"
        else:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
        # replies expected: one a finished line, and one for a cut-short rest
        expected = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        s = connect(home)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = s.makefile("rb").read()
        except OSError as err:
            problems.append(f"connection {i}: {err}")
            continue
        finally:
            s.close()
        lines += expected
        for line in got.splitlines():
            reply = json.loads(line)
            replies += 1
            if reply.get("reply") != "error":
                problems.append(f"connection {i}: not an error: {reply}")
            elif reply.get("kind") not in ("bad_request", "bad_input"):
                problems.append(f"connection {i}: {reply}")
    if replies != lines:
        problems.append(f"{replies} replies to {lines} lines")
    after_checks(daemon, home, problems, "the garbage")
    row("Socket: binary garbage",
        f"{len(shapes)} kinds of malformed JSON (10,000-deep arrays, lone surrogates, huge "
        "numbers, NUL bytes), then random bytes (1-4096 a connection, newlines where they fall)",
        f"{connections} connections, {lines} lines",
        f"every line got an error reply ({replies}), `bad_request` or `bad_input`; "
        f"{memory_note(daemon, before)}; status answered after",
        "nothing needed", problems[:5])


def half_open(daemon, home, half=500, silent=500, hold_s=12.0):
    problems = []
    before_fds = daemon.fds()
    before = daemon.rss()
    daemon.reset_peak()
    sampler = Sampler(daemon)
    held = []
    # the two kinds alternate, so that both are among the last ones served
    for i in range(half + silent):
        s = connect(home, timeout=15)
        if i % 2 == 0 and i // 2 < half or i // 2 >= silent:
            s.sendall(HALF_LINE)
        held.append(s)
    # meanwhile, fresh clients every 0.5 s
    latencies = []
    deadline = time.monotonic() + hold_s
    while time.monotonic() < deadline:
        try:
            latencies.append(ask_status(home, timeout=2.0))
        except Exception as err:  # noqa: BLE001
            problems.append(f"status while held: {err}")
        time.sleep(0.5)
    # what the held connections were told
    made_room = timed_out = silent_close = 0
    for s in held:
        s.setblocking(False)
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue  # still open: served within the limit
        except OSError:
            data = b""
        if b"make room" in data:
            made_room += 1
        elif b"did not finish" in data:
            timed_out += 1
        else:
            silent_close += 1
    for s in held:
        s.close()
    time.sleep(0.5)
    peak_fds = sampler.stop()
    after_fds = daemon.fds()
    after_checks(daemon, home, problems, "the held connections")
    if peak_fds > before_fds + 256 + 8:
        problems.append(f"{peak_fds} descriptors open at the peak")
    if after_fds > before_fds + 2:
        problems.append(f"{after_fds} descriptors open after, {before_fds} before")
    worst = max(latencies) * 1000 if latencies else float("nan")
    row("Socket: half-open connections",
        f"{half} connections that send half a line and {silent} that send nothing, all held "
        f"{hold_s:.0f} s (past the 10 s line limit) while fresh clients ask `status` every 0.5 s",
        f"{half + silent} held, {len(latencies)} status requests",
        f"every status answered (worst {worst:.1f} ms); the daemon held at most {peak_fds} "
        f"descriptors ({before_fds} idle, {after_fds} after); {made_room} held connections were "
        f"closed to make room, {timed_out} told their line did not finish in 10 s; "
        f"{memory_note(daemon, before)}",
        "connections waiting on their client make room for new ones (src/daemon/connection.rs, "
        "mod.rs; before, 64 held connections left every other client unanswered)", problems)


def open_and_drop(daemon, home, count=10_000):
    problems = []
    before_fds = daemon.fds()
    before = daemon.rss()
    daemon.reset_peak()
    began = time.monotonic()
    for i in range(count):
        s = socket.socket(socket.AF_UNIX)
        s.connect(home.socket)
        if i % 2:
            s.send(HALF_LINE)
        s.close()
    took = time.monotonic() - began
    deadline = time.monotonic() + 5
    while daemon.fds() > before_fds and time.monotonic() < deadline:
        time.sleep(0.05)
    after_fds = daemon.fds()
    after_checks(daemon, home, problems, "the dropped connections")
    if after_fds > before_fds:
        problems.append(f"{after_fds} descriptors open after, {before_fds} before")
    row("Socket: connections opened and dropped",
        "connect and close at once; every other one sends half a line first",
        f"{count:,}",
        f"took {took:.1f} s; descriptors {before_fds} before, {after_fds} after; "
        f"{memory_note(daemon, before)}; status answered after",
        "nothing needed", problems)


# -- routine files -------------------------------------------------------------

def check_file(home, path, expect, problems, what, daemon=None):
    """`check` must exit 2 naming file:line:col (or the file) with `expect`,
    with nothing raw that a terminal acts on; the daemon's `start` too."""
    code, out, err = home.run("check", path)
    text = (out + err).decode("utf-8", "replace")
    if code != 2:
        problems.append(f"{what}: check exited {code}")
    if expect not in text:
        problems.append(f"{what}: no {expect!r} in {text[:300]!r}")
    if not text.startswith(path):
        problems.append(f"{what}: the report does not start with the file's name")
    raw = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
           or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069]
    if raw:
        problems.append(f"{what}: raw control characters reach the terminal: {raw[:5]}")
    if daemon is not None:
        code, out, err = home.run("start", path)
        if code != 2:
            problems.append(f"{what}: start exited {code}: {err[:200]!r}")
    return text


def huge_files(daemon, home):
    problems = []
    before = daemon.rss()
    daemon.reset_peak()
    cases = 0
    over = home.path("over.toml")
    with open(over, "w") as f:
        f.write('name = "x"\n' + "# padding\n" * 120_000)
    check_file(home, over, "more than the limit of 1048576 bytes", problems, "1.2 MB", daemon)
    sparse = home.path("sparse.toml")
    with open(sparse, "wb") as f:
        f.truncate(100 * MB)
    began = time.monotonic()
    check_file(home, sparse, "more than the limit", problems, "100 MB", daemon)
    sparse_ms = (time.monotonic() - began) * 1000
    cases += 2
    # just under the limit: 30,000 steps
    text = 'name = "Many"\n'
    i = 0
    while True:
        block = f'[[step]]\nname = "Step {i}"\nreps = 10\n'
        if len(text) + len(block) > MB - 16:
            break
        text += block
        i += 1
    many_steps = home.path("steps.toml")
    with open(many_steps, "w") as f:
        f.write(text)
    check_file(home, many_steps, "steps are more than the limit of 200", problems,
               f"{i} steps", daemon)
    began = time.monotonic()
    home.run("check", many_steps)
    steps_ms = (time.monotonic() - began) * 1000
    # just under the limit: nothing but unknown keys
    text = 'name = "Keys"\n[[step]]\nname = "A"\nreps = 2\n'
    k = 0
    while len(text) < MB - 32:
        text += f"key{k} = 1\n"
        k += 1
    keys = home.path("keys.toml")
    with open(keys, "w") as f:
        f.write(text)
    report = check_file(home, keys, "more problems from here on are not shown", problems,
                        f"{k} unknown keys", daemon)
    keys_lines = len(report.splitlines())
    began = time.monotonic()
    home.run("check", keys)
    keys_ms = (time.monotonic() - began) * 1000
    # a valid routine of almost 1 MiB: 200 steps with 1000-character tips
    tip = "Press gently and breathe out. " * 33
    text = 'name = "Big"\n'
    for n in range(200):
        text += f'[[step]]\nname = "Step {n}"\ntip = "{tip[:1000]}"\nreps = 2\n'
    text += "# " + "x" * (MB - len(text) - 200) + "\n"
    big = home.path("big.toml")
    with open(big, "w") as f:
        f.write(text)
    began = time.monotonic()
    code, out, err = home.run("check", big)
    big_ms = (time.monotonic() - began) * 1000
    if code != 0:
        problems.append(f"a valid {len(text)}-byte routine: check exited {code}: {out[:200]!r}")
    began = time.monotonic()
    code, out, err = home.run("plan", big, "--json")
    plan_ms = (time.monotonic() - began) * 1000
    if code != 0:
        problems.append(f"plan of the valid big routine exited {code}")
    cases += 4
    after_checks(daemon, home, problems, "the huge routines")
    row("Routine: huge files",
        "`check` and the daemon's `start` of a 1.2 MB and a 100 MB (sparse) file; just under "
        f"1 MiB with {i:,} steps, and with {k:,} unknown keys; a valid routine of just under "
        "1 MiB (200 steps, 1000-character tips) checked and planned",
        f"{cases} files",
        f"over the limit: exit 2 naming the size, the 100 MB file refused in {sparse_ms:.0f} ms; "
        f"{i:,} steps: exit 2 at step 201 in {steps_ms:.0f} ms; {k:,} keys: exit 2 with "
        f"{keys_lines} lines (100 problems and how many more) in {keys_ms:.0f} ms, and `start` "
        f"exit 2 too; the valid one checked in {big_ms:.0f} ms and planned in {plan_ms:.0f} "
        f"ms (its 200 step names rendered by the speech engine); daemon "
        f"{memory_note(daemon, before)}",
        "at most 100 problems a file (it printed about 96,000 lines); an error reply longer than a "
        "line is shortened (`start` of that file failed with exit 1, 'the daemon sent a bad "
        "reply') (src/routine/parse.rs, src/daemon/connection.rs)", problems)


def nested_files(home):
    problems = []
    kinds = 0
    for depth in (10_000, 100_000):
        cases = {
            "arrays": f'name = "x"\nv = {"[" * depth}{"]" * depth}\n',
            "inline tables": f'name = "x"\nv = {"{a=" * depth}1{"}" * depth}\n',
            "arrays of tables": f'name = "x"\nv = {"[{a=" * depth}1{"}]" * depth}\n',
            "dotted keys": f'name = "x"\n{".".join(["a"] * depth)} = 1\n',
            "table header": f'name = "x"\n[{".".join(["a"] * depth)}]\n',
        }
        for name, text in cases.items():
            path = home.path(f"deep-{depth}-{name.replace(' ', '-')}.toml")
            with open(path, "w") as f:
                f.write(text)
            code, out, err = home.run("check", path)
            if code != 2:
                problems.append(f"{name}, {depth} deep: exit {code} (a crash ends by a signal)")
            elif not out.decode().startswith(path + ":"):
                problems.append(f"{name}, {depth} deep: {out[:200]!r}")
            kinds += 1
    row("Routine: deep nesting",
        "`check` of arrays, inline tables, arrays of inline tables, dotted keys and a table "
        "header nested 10,000 and 100,000 deep",
        f"{kinds} files",
        "exit 2 with file:line:column and \"this is not valid TOML: ... recursion\" (the TOML "
        "parser stops at its depth limit; no stack overflow)",
        "nothing needed", problems)


def control_files(home):
    problems = []
    esc, csi, osc = "\\u001b", "\\u001b[2J", "\\u001b]0;title\\u0007"
    cases = [
        ("escape in a name", f'name = "Back{csi}"\n', "control character U+001B"),
        ("OSC in a description", f'name = "x"\ndescription = "a{osc}"\n',
         "control character U+001B"),
        ("C1 CSI in a tip", 'name = "x"\n[[step]]\nname = "a"\nreps = 2\ntip = "a\\u009b2J"\n',
         "control character U+009B"),
        ("NUL in a side", 'name = "x"\n[[step]]\nname = "a"\nreps = 2\nsides = ["l\\u0000"]\n',
         "control character U+0000"),
        ("DEL in a move", 'name = "x"\n[[step]]\nname = "a"\nreps = 2\nmove = "on\\u007f"\n',
         "control character U+007F"),
        ("bell in a caution", 'name = "x"\ncautions = ["Careful\\u0007"]\n',
         "control character U+0007"),
        ("carriage return in a name", 'name = "Back\\rFront"\n', "control character U+000D"),
        ("right-to-left override in a name", 'name = "Back \u202eegassam"\n',
         "bidirectional control character U+202E"),
        ("isolate in a say", 'name = "x"\n[[step]]\nname = "a"\nsay = "a\u2066b\u2069"\nreps = 2\n',
         "bidirectional control character U+2066"),
        ("embedding in a caution", 'name = "x"\ncautions = ["\u202aCareful"]\n',
         "bidirectional control character U+202A"),
        ("OSC in an unknown key", f'name = "x"\n"{osc}" = 1\n',
         "unknown key `\\u{1b}]0;title\\u{7}`"),
        ("override in an unknown key", 'name = "x"\n"a\u202eb" = 1\n',
         "unknown key `a\\u{202e}b`"),
        ("CSI as a duration", f'name = "x"\n[[step]]\nname = "a"\ntime = "{csi}"\n',
         "\"\\u{1b}[2J\" is not a duration"),
        ("CSI in a count", f'name = "x"\n[[step]]\nname = "a"\nreps = "5{csi}"\n',
         "\"5\\u{1b}[2J\" is not a count"),
        ("escape in a kind", f'name = "x"\nkind = "se{esc}lf"\n', "is not a kind of routine"),
        ("raw escape byte", 'name = "a\x1b[2Jb"\n', "this is not valid TOML"),
        ("raw C1 character", 'name = "a\u009bb"\n', "control character U+009B"),
    ]
    for n, (what, text, expect) in enumerate(cases):
        path = home.path(f"control-{n}.toml")
        if "[[step]]" not in text:
            text += '[[step]]\nname = "Step"\nreps = 2\n'
        with open(path, "w") as f:
            f.write(text)
        check_file(home, path, expect, problems, what)
    # right-to-left text and its marks are a routine like any other
    rtl = home.path("rtl.toml")
    with open(rtl, "w") as f:
        f.write('name = "\u200fעיסוי גב"\n[[step]]\nname = "ליטוף"\nreps = 2\n'
                '[[step]]\nname = "تدليك"\nreps = 2\n')
    code, out, err = home.run("check", rtl)
    if code != 0:
        problems.append(f"right-to-left text refused: {out[:200]!r}")
    code, out, err = home.run("show", rtl)
    if code != 0 or "ליטוף" not in out.decode():
        problems.append("right-to-left text not shown")
    row("Routine: control characters and bidi overrides",
        "escapes (ESC, CSI, OSC, C1, NUL, DEL, BEL, CR) and right-to-left overrides, "
        "embeddings and isolates (U+202A-U+202E, U+2066-U+2069) in names, phrases, tips, "
        "sides, cautions, unknown keys, durations, counts; raw in the file too",
        f"{len(cases)} files, and one of Hebrew and Arabic text with U+200F marks",
        "each refused (exit 2) with file:line:column, the key and the character's code; no raw "
        "control or bidi character in any report; right-to-left text with its marks accepted",
        "bidi overrides, embeddings and isolates are refused in text; keys and values quoted in "
        "errors are escaped (before, an unknown key or a bad duration with ESC sequences reached "
        "the terminal raw, and U+202E was accepted in names) (src/routine/value.rs, error.rs, "
        "parse.rs)", problems)


def special_files(home):
    problems = []
    fifo = home.path("pipe.toml")
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", home.path()):
        try:
            code, out, err = home.run("check", path, timeout=10)
        except subprocess.TimeoutExpired:
            problems.append(f"`check {path}` did not finish")
            continue
        if code != 2 or b"not a regular file" not in out:
            problems.append(f"{path}: exit {code}: {out[:200]!r}")
        code, out, err = home.run("show", path, timeout=10)
        if code != 2:
            problems.append(f"show {path}: exit {code}")
    row("Routine: pipes and devices",
        "`check` and `show` of a FIFO, /dev/zero and a folder named as a routine",
        "3 paths, 2 commands",
        "exit 2 at once: \"not a regular file\" (`show` says there is no such routine file)",
        "routine files are opened without blocking and must be regular files (before, `check` "
        "of a FIFO waited forever) (src/routine/parse.rs)", problems)


# -- the speech engine ---------------------------------------------------------

def write_wav(path):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(b"".join(
            int(8000 * math.sin(i * 0.1)).to_bytes(2, "little", signed=True)
            for i in range(4410)))


def shell_phrases(home):
    problems = []
    marks = home.path("marks")
    os.makedirs(marks)
    m = marks
    phrases = [
        f"Now $(touch {m}/dollar)",
        f"Then `touch {m}/backtick`",
        f"Rest; touch {m}/semicolon",
        f"Press | touch {m}/pipe",
        f"Hold && touch {m}/and || touch {m}/or",
        f"Release > {m}/redirect",
        f"It's \"quoted\" 'twice' \\ back",
        f"-rf {m}/leading-dash",
        "Stretch $HOME ~ * ?",
        f"Knead $(touch {m}/x)$'\\x41'",
    ]
    wav = home.path("word.wav")
    write_wav(wav)
    for mode in ("args", "stdin"):
        logs = home.path(f"engine-{mode}")
        os.makedirs(logs)
        engine = home.path(f"engine-{mode}.sh")
        with open(engine, "w") as f:
            # each run records its arguments (NUL-ended) and what comes on
            # standard input in files of its own
            f.write("#!/bin/sh\n"
                    f"printf '%s\\0' \"$@\" > '{logs}'/$$.args\n"
                    + (f"cat > '{logs}'/$$.stdin\n" if mode == "stdin" else "")
                    + f"cp '{wav}' \"$1\"\n")
        os.chmod(engine, 0o755)
        config = home.path("config", "massage-cue")
        os.makedirs(config, exist_ok=True)
        command = [engine, "{out}", "{text}"] if mode == "args" else [engine, "{out}"]
        with open(os.path.join(config, "config.toml"), "w") as f:
            f.write(f"[voice]\ncommand = {json.dumps(command)}\n")
        routine = home.path(f"shell-{mode}.toml")
        with open(routine, "w") as f:
            f.write('name = "Shell"\n')
            for phrase in phrases:
                f.write(f"[[step]]\nname = {json.dumps(phrase)}\nreps = 1\n")
        out_wav = home.path(f"shell-{mode}.wav")
        code, out, err = home.run("render", routine, "-o", out_wav, timeout=120)
        if code != 0:
            problems.append(f"{mode}: render exited {code}: {err[-300:]!r}")
            continue
        recorded = []
        for name in os.listdir(logs):
            with open(os.path.join(logs, name), "rb") as f:
                text = f.read().decode()
            recorded += text.split("\0") if name.endswith(".args") else [text]
        if not recorded:
            problems.append(f"{mode}: the engine never ran")
            continue
        for phrase in phrases:
            # an argument starting with `-` is given behind a space
            want = " " + phrase if phrase.startswith("-") and mode == "args" else phrase
            if not any(want in arg for arg in recorded):
                problems.append(f"{mode}: {phrase!r} not given whole: {recorded[:6]}")
    created = os.listdir(marks)
    if created:
        problems.append(f"a shell ran: {created}")
    row("Speech: shell metacharacters",
        "phrases with `$(...)`, backticks, `;`, `|`, `&&`, `||`, `>`, quotes, a backslash, "
        "`$HOME`, globs and a leading `-rf` rendered through a speech command that records "
        "what it is given: once as `{text}` arguments, once on standard input",
        f"{len(phrases)} phrases x 2 ways",
        "no file created; each phrase reached the engine whole, as one argument (a leading "
        "`-` behind a space, so it is not an option) or as standard input",
        "nothing needed", problems)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    binary = os.path.abspath(binary)

    home = Home(binary, work, "socket")
    daemon = Daemon(home)
    log(f"daemon pid {daemon.pid}, RSS {kib(daemon.rss())}, {daemon.fds()} descriptors")
    try:
        log("a 100 MB line")
        long_lines(daemon, home)
        log("binary garbage")
        garbage(daemon, home)
        log("half-open connections (about 15 s)")
        half_open(daemon, home)
        log("10,000 connections opened and dropped")
        open_and_drop(daemon, home)
        log("huge routine files")
        huge_files(daemon, home)
    finally:
        alive = daemon.alive()
        daemon.stop()
    if not alive:
        FAILURES.append("the daemon died")
    files = Home(binary, work, "files")
    log("deeply nested routine files")
    nested_files(files)
    log("control characters")
    control_files(files)
    special_files(files)
    log("shell metacharacters in phrases")
    shell_phrases(Home(binary, work, "speech"))

    REPORT.finish()


if __name__ == "__main__":
    main()
