#!/usr/bin/env python3
"""Load on the daemon's socket while a session plays; run by
scripts/load-test, which builds the release binary and starts a private
sound server (PULSE_SERVER).

  load-test.py BIN WORK ROUTINES SECONDS CLIENTS

How cue timing is measured (as examples/bench_timing.rs does): the null
sink's monitor is recorded with parec (48 kHz mono); sounds start where the
magnitude crosses 0.02 of full scale after at least 60 ms below it
(tests/common/onsets.rs). Each cue's own onset is found in the session
rendered by `massage-cue render` (the same clips, sample-exact at the
plan's `at_ms`), so a clip with a soft start is not counted late. The
recording is lined up on the first cue; each later cue is paired with the
recorded onset nearest to where it belongs (within 150 ms, else it is
missing); a cue's error is its distance from there after the run's typical
offset (the median) is taken off.

Prints one Markdown table row per part on stdout, progress on stderr;
exits 1 if anything did not hold.
"""

import array
import bisect
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reportrows import Report  # noqa: E402

REPORT = Report("load-test", clock=True)
log, row, FAILURES = REPORT.log, REPORT.row, REPORT.failures

ROUTINE = "hip-knee-mobility"
TEMPO = 2.0  # counts every 2 s: more cues a minute
RATE = 48_000
THRESHOLD = 0.02
MIN_GAP_MS = 60.0
MATCH_MS = 150.0
CONTROL_S = 20
SUBSCRIBERS = 5
THINK_S = 0.1  # each client waits 0 to this long between requests
REPLY_TIMEOUT_S = 10
# cue timing counts as unharmed by the load while no cue is further off
# than this or than twice the worst without load, whichever is more
UNHARMED_MS = 20.0
# the priority the clients run at (see `under_load`)
NICE = 10


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def ms3(values):
    """median / p99 / max in ms."""
    if not values:
        return "none"
    return (f"{statistics.median(values):.2f} / {percentile(values, 99):.2f} / "
            f"{max(values):.2f} ms")


# -- the daemon --------------------------------------------------------------------

class Daemon:
    def __init__(self, binary, root, routines):
        self.binary = binary
        run = os.path.join(root, "run")
        os.makedirs(run, mode=0o700)
        self.socket = os.path.join(run, "massage-cue.sock")
        self.env = dict(
            os.environ,
            HOME=root,
            XDG_RUNTIME_DIR=run,
            XDG_STATE_HOME=os.path.join(root, "state"),
            XDG_CONFIG_HOME=os.path.join(root, "config"),
            XDG_CACHE_HOME=os.path.join(root, "cache"),
            MASSAGE_CUE_ROUTINES=routines,
            RUST_LOG="info",
            NO_COLOR="1",
        )
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.log_path = os.path.join(root, "daemon.log")
        self.proc = subprocess.Popen([binary, "daemon"], env=self.env, cwd=root,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "wb"))
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.socket)
                s.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("load-test: the daemon did not start")
                time.sleep(0.01)
        self.pid = self.proc.pid

    def ask(self, request, **fields):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(self.socket)
        try:
            s.sendall(json.dumps(dict(version=1, request=request, **fields)).encode() + b"\n")
            return json.loads(s.makefile("rb").readline())
        finally:
            s.close()

    def cli(self, *args):
        out = subprocess.run([self.binary, *args], env=self.env, capture_output=True,
                             check=False)
        if out.returncode != 0:
            raise SystemExit(f"load-test: massage-cue {' '.join(args)}: {out.stderr.decode()}")
        return out.stdout

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- sound ---------------------------------------------------------------------------

class Recorder:
    """parec on the null sink's monitor, raw 48 kHz mono; keeps every sample
    and, for each read, the monotonic time and the sample count so far."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["parec", "-d", "test_sink.monitor", "--raw", "--format=s16le",
             f"--rate={RATE}", "--channels=1", "--latency-msec=5"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.data = bytearray()
        self.reads = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while self.count() < RATE // 10:
            if time.monotonic() > deadline:
                raise SystemExit("load-test: parec recorded nothing")
            time.sleep(0.01)

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            now = time.monotonic()
            if not chunk:
                return
            with self.lock:
                self.data += chunk
                self.reads.append((now, len(self.data) // 2))

    def count(self):
        with self.lock:
            return len(self.data) // 2

    def index_at(self, t):
        """The sample recorded at monotonic time `t`, near enough."""
        with self.lock:
            for when, n in self.reads:
                if when >= t:
                    return n
            return len(self.data) // 2

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.thread.join()
        n = len(self.data) // 2
        samples = array.array("h")
        samples.frombytes(bytes(self.data[: n * 2]))
        return samples


def onsets_ms(samples, rate):
    """Where sounds start (ms): the threshold crossed after a quiet gap."""
    limit = int(THRESHOLD * 32768)
    gap = int(MIN_GAP_MS * rate / 1000)
    found = []
    last_loud = -gap - 1
    for i, s in enumerate(samples):
        if s > limit or s < -limit:
            if i - last_loud > gap:
                found.append(i * 1000 / rate)
            last_loud = i
    return found


def cue_onsets(render_wav, plan, horizon_ms):
    """Each cue's own onset in the rendered session (ms), for the cues
    before `horizon_ms` that sound above the threshold."""
    with wave.open(render_wav) as w:
        rate = w.getframerate()
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        frames = min(w.getnframes(), int((horizon_ms + 5000) * rate / 1000))
        samples = array.array("h")
        samples.frombytes(w.readframes(frames))
    limit = int(THRESHOLD * 32768)
    cues = []
    for cue in plan["cues"]:
        if cue["at_ms"] >= horizon_ms:
            break
        start = int(cue["at_ms"] * rate / 1000)
        end = min(len(samples), start + int((cue["duration_ms"] + 20) * rate / 1000))
        for i in range(start, end):
            if samples[i] > limit or samples[i] < -limit:
                cues.append((cue, i * 1000 / rate))
                break
    return cues


def line_up(expected, recorded):
    """Where the recording's session starts (ms): the shift that puts the
    most recorded onsets within 5 ms of a cue's, among those that put some
    onset on one of the first cues. One late or early cue cannot move it."""
    candidates = [r - at for _cue, at in expected[:5] for r in recorded
                  if 0 <= r - at <= 10_000]
    shifts = sorted(r - at for _cue, at in expected for r in recorded
                    if 0 <= r - at <= 10_000)

    def support(shift):
        lo = bisect.bisect_left(shifts, shift - 5)
        hi = bisect.bisect_right(shifts, shift + 5)
        return hi - lo

    return max(candidates, key=support) if candidates else recorded[0] - expected[0][1]


def timing(expected, recorded, label):
    """Errors (ms) of the recorded onsets against the cues' onsets, the run
    lined up on its cues; and the cues missing."""
    if not recorded or not expected:
        return [], len(expected), 0.0, 0.0
    shift = line_up(expected, recorded)
    offsets = []
    missing = 0
    report = []
    for cue, at in expected:
        want = at + shift
        nearest = min(recorded, key=lambda r: abs(r - want))
        report.append(f"{cue['at_ms'] / 1000:.1f}s {cue['kind']} {nearest - want:+.1f}")
        if abs(nearest - want) <= MATCH_MS:
            offsets.append((at, nearest - want))
        else:
            missing += 1
    log(f"{label}: each cue's recorded onset against the plan (ms): " + ", ".join(report))
    if not offsets:
        return [], missing, 0.0, 0.0
    typical = statistics.median(o for _, o in offsets)
    errors = [o - typical for _, o in offsets]
    # a steady slope would be the sink's clock against the system's
    xs = [a for a, _ in offsets]
    mx, my = statistics.fmean(xs), statistics.fmean(errors)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (e - my) for x, e in zip(xs, errors)) / sxx if sxx else 0.0
    return errors, missing, typical, slope * 1e6


def errors_note(errors, missing):
    if not errors:
        return "no cues measured"
    a = [abs(e) for e in errors]
    return (f"{statistics.median(a):.1f} / {percentile(a, 99):.1f} / {max(a):.1f} ms over "
            f"{len(errors)} cues, {missing} missing")


# -- clients ---------------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.times = []  # reply times, ms
        self.sent = 0
        self.unanswered = 0  # no reply within the timeout, or the connection closed
        self.failed = []  # replies that are not what the request should get
        self.expected_errors = 0  # bad_request for a malformed line, not_now
        self.reconnects = 0


STATUS = b'{"version":1,"request":"status"}\n'
MALFORMED = [b'{"version":1,"request":\n', b"not json at all\n", b"\x00\xff\xfe\n",
             b'{"version":1}\n', b"\n"]
UNKNOWN = b'{"version":1,"request":"dance"}\n'


def control_line(name):
    return json.dumps({"version": 1, "request": name}).encode() + b"\n"


async def one_request(reader, writer, line, tally):
    tally.sent += 1
    began = time.perf_counter()
    writer.write(line)
    await writer.drain()
    try:
        reply = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT_S)
    except (asyncio.TimeoutError, ConnectionError):
        reply = b""
    if not reply:
        tally.unanswered += 1
        return None
    tally.times.append((time.perf_counter() - began) * 1000)
    return json.loads(reply)


async def client(path, deadline, control, tally, rng):
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        while time.monotonic() < deadline:
            roll = rng.random()
            if control:
                if roll < 0.4:
                    lines, ok = [STATUS], ("ok",)
                elif roll < 0.6:
                    lines, ok = [control_line("pause"), control_line("resume")], ("ok", "not_now")
                elif roll < 0.7:
                    lines, ok = [control_line("toggle"), control_line("toggle")], ("ok", "not_now")
                elif roll < 0.8:
                    lines, ok = [control_line("next")], ("ok", "not_now")
                elif roll < 0.9:
                    lines, ok = [control_line("prev")], ("ok", "not_now")
                else:
                    lines, ok = [control_line("repeat")], ("ok", "not_now")
            else:
                if roll < 0.05:
                    writer.close()
                    tally.reconnects += 1
                    reader, writer = await asyncio.open_unix_connection(path)
                    lines, ok = [STATUS], ("ok",)
                elif roll < 0.10:
                    lines, ok = [rng.choice(MALFORMED)], ("bad_request",)
                elif roll < 0.15:
                    lines, ok = [UNKNOWN], ("bad_request",)
                else:
                    lines, ok = [STATUS], ("ok",)
            for line in lines:
                reply = await one_request(reader, writer, line, tally)
                if reply is None:
                    writer.close()
                    reader, writer = await asyncio.open_unix_connection(path)
                    continue
                got = reply.get("kind") if reply.get("reply") == "error" else reply.get("reply")
                if got not in ok:
                    tally.failed.append(f"{line.strip()[:40]!r} -> {str(reply)[:120]}")
                elif got != "ok":
                    tally.expected_errors += 1
            await asyncio.sleep(rng.uniform(0, THINK_S))
    finally:
        writer.close()


async def subscriber(path, deadline, counts):
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b'{"version":1,"request":"subscribe"}\n')
    await writer.drain()
    try:
        while time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(reader.readline(), 1)
            except asyncio.TimeoutError:
                continue
            if not line:
                counts["closed"] += 1
                return
            if b'"cue"' in line:
                counts["cues"] += 1
            counts["lines"] += 1
    finally:
        writer.close()


async def load(path, seconds, clients, control):
    tally = Tally()
    counts = {"lines": 0, "cues": 0, "closed": 0}
    deadline = time.monotonic() + seconds
    rng = random.Random(6 + control)
    tasks = [client(path, deadline, control, tally, random.Random(rng.random()))
             for _ in range(clients)]
    if not control:
        tasks += [subscriber(path, deadline, counts) for _ in range(SUBSCRIBERS)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            tally.failed.append(f"a client failed: {result!r}")
    return tally, counts


# -- the runs --------------------------------------------------------------------------

def session_run(daemon, seconds, after=None):
    """Starts the routine with a recorder running, calls `after` (or
    sleeps `seconds`), and returns the recording and the cue windows."""
    recorder = Recorder()
    reply = daemon.ask("start", routine=ROUTINE, options={"tempo": TEMPO})
    if reply.get("reply") != "ok":
        raise SystemExit(f"load-test: start: {reply}")
    began = time.monotonic()
    extra = after() if after else time.sleep(seconds)
    measured_until = began + seconds
    return recorder, measured_until, extra


def main():
    binary, work, routines = sys.argv[1:4]
    seconds, clients = int(sys.argv[4]), int(sys.argv[5])
    base_s = min(seconds, 60)
    daemon = Daemon(binary, os.path.join(work, "home"), routines)
    plan = json.loads(daemon.cli("plan", ROUTINE, "--tempo", str(TEMPO), "--json"))
    render_wav = os.path.join(work, "render.wav")
    daemon.cli("render", ROUTINE, "--tempo", str(TEMPO), "-o", render_wav)
    if plan["total_ms"] < (seconds + CONTROL_S + 15) * 1000:
        raise SystemExit(f"load-test: {ROUTINE} is too short for {seconds} s of load")
    problems_base, problems_load, problems_control = [], [], []
    try:
        log(f"baseline: {base_s} s of {ROUTINE} (tempo {TEMPO}) with no other client")
        recorder, _, _ = session_run(daemon, base_s)
        time.sleep(1)
        base_samples = recorder.stop()
        daemon.ask("stop")
        time.sleep(1)

        log(f"load: {clients} clients for {seconds} s, then {CONTROL_S} s of control requests")
        cpu = {}
        state = {}

        def under_load():
            # The clients are this one Python process, which needs a core
            # for what 200 separate clients would each do in a moment; at
            # nice 10 that work cannot stand in for the daemon's own. (At
            # nice 0 on a busy two-core machine it starves the daemon's
            # sound thread and the null sink alike, and a cue now and then
            # slips by tens of ms.) The daemon and the recorder were started
            # before, at the usual priority.
            os.nice(NICE)
            began = time.monotonic()
            cpu["a0"], rss0 = daemon.cpu_s(), daemon.rss_kb()
            a = asyncio.run(load(daemon.socket, seconds, clients, control=False))
            cpu["a1"], cpu["a_wall"] = daemon.cpu_s(), time.monotonic() - began
            state["a_end"] = time.monotonic()
            b0 = time.monotonic()
            b = asyncio.run(load(daemon.socket, CONTROL_S, clients, control=True))
            cpu["b1"], cpu["b_wall"] = daemon.cpu_s(), time.monotonic() - b0
            state["rss"] = (rss0, daemon.rss_kb())
            # the session carries on afterwards
            daemon.ask("resume")
            state["after"] = daemon.ask("status")["status"]
            state["after_at"] = time.monotonic()
            time.sleep(8)
            return a, b

        recorder, _, (phase_a, phase_b) = session_run(daemon, seconds, after=under_load)
        load_end_index = recorder.index_at(state["a_end"])
        after_index = recorder.index_at(state["after_at"] + 1)
        load_samples = recorder.stop()
        daemon.ask("stop")
        alive = daemon.proc.poll() is None
    finally:
        daemon.stop()

    log("finding onsets")
    analysis_began = time.monotonic()
    horizon = min(base_s, seconds) * 1000 - 1000
    expected = cue_onsets(render_wav, plan, horizon)
    base_onsets = onsets_ms(base_samples, RATE)
    load_onsets = onsets_ms(load_samples[:load_end_index], RATE)
    base_err, base_missing, _, _ = timing(expected, base_onsets, "baseline")
    load_err, load_missing, _, _ = timing(expected, load_onsets, "under load")
    after_onsets = onsets_ms(load_samples[after_index:], RATE)
    log(f"onsets found in {time.monotonic() - analysis_began:.0f} s")

    (tally_a, subs), (tally_b, _) = phase_a, phase_b
    if base_missing:
        problems_base.append(f"{base_missing} cues not heard")
    if load_missing:
        problems_load.append(f"{load_missing} cues not heard")
    for tally, problems in ((tally_a, problems_load), (tally_b, problems_control)):
        if tally.unanswered:
            problems.append(f"{tally.unanswered} requests unanswered")
        if tally.failed:
            problems.append(f"{len(tally.failed)} wrong replies, e.g. {tally.failed[0]}")
    if load_err and base_err:
        worst_base = max(abs(e) for e in base_err)
        worst_load = max(abs(e) for e in load_err)
        if worst_load > max(UNHARMED_MS, 2 * worst_base):
            problems_load.append(f"cue onsets off by up to {worst_load:.1f} ms under load")
    if subs["cues"] == 0 or subs["closed"]:
        problems_load.append(f"subscribers: {subs}")
    if not alive:
        problems_control.append("the daemon died")
    if state["after"]["state"] != "running" or not after_onsets:
        problems_control.append(f"after the control requests: {state['after']['state']}, "
                                f"{len(after_onsets)} sounds in 8 s")

    cores = os.cpu_count()
    load_avg = open("/proc/loadavg").read().split()[:3]
    row("Load: cue timing without load (baseline)",
        f"`{ROUTINE}` at tempo {TEMPO} played into the null sink and its monitor recorded, no "
        "client but the one that started it",
        f"{base_s} s, {len(expected)} cues",
        f"cue onset error median / p99 / max {errors_note(base_err, base_missing)}",
        "nothing needed", problems_base)
    rate_a = tally_a.sent / cpu["a_wall"]
    row("Load: status and harmless requests",
        f"{clients} clients at once, each on its own connection, sending `status` (85 %), "
        "malformed lines (5 %), unknown requests (5 %) and reconnecting (5 %), waiting 0-100 ms "
        f"between requests; {SUBSCRIBERS} subscribers; the same {seconds} s of the same session "
        f"playing (load average {' '.join(load_avg)} on {cores} cores; the clients, one Python "
        f"process, at nice {NICE})",
        f"{tally_a.sent:,} requests ({rate_a:,.0f}/s), {tally_a.reconnects:,} reconnections",
        f"every request answered: {tally_a.unanswered} unanswered, {len(tally_a.failed)} wrong "
        f"replies ({tally_a.expected_errors:,} were the `bad_request` errors asked for); reply "
        f"time median / p99 / max {ms3(tally_a.times)}; cue onset error median / p99 / max "
        f"{errors_note(load_err, load_missing)} (baseline "
        f"{errors_note(base_err, base_missing).split(' over')[0]}); subscribers got "
        f"{subs['lines']} updates, {subs['cues']} of them cues; daemon CPU "
        f"{(cpu['a1'] - cpu['a0']) / cpu['a_wall'] * 100:.0f} % of a core",
        "each clip is handed to the output 250 ms before its deadline (src/session.rs, "
        "src/daemon/session_task.rs; before, under this load cues sounded up to 26 ms late and "
        "one was dropped as stale); the sound threads run at a higher priority where the system "
        "allows it (src/audio/output.rs; before, on a busy machine cues were up to 65 ms late as "
        "the device ran dry); 256 connections are served at once and those waiting on "
        "their client make room (src/daemon/connection.rs, mod.rs; with the former 64, 136 of "
        "200 clients holding a connection would never have been answered)", problems_load)
    rate_b = tally_b.sent / cpu["b_wall"]
    row("Load: control requests",
        f"the same {clients} clients for {CONTROL_S} s: `status` (40 %), `pause` then `resume`, "
        "`toggle` twice, `next`, `prev`, `repeat`; cue timing not measured (the session jumps)",
        f"{tally_b.sent:,} requests ({rate_b:,.0f}/s)",
        f"every request answered: {tally_b.unanswered} unanswered, {len(tally_b.failed)} wrong "
        f"replies ({tally_b.expected_errors:,} `not_now`); reply time median / p99 / max "
        f"{ms3(tally_b.times)}; daemon CPU "
        f"{(cpu['b1'] - cpu['a1']) / cpu['b_wall'] * 100:.0f} % of a core; after a `resume` the "
        f"session was {state['after']['state']} and {len(after_onsets)} sounds were heard in "
        f"8 s; daemon RSS {state['rss'][0] / 1024:.1f} MiB before the load, "
        f"{state['rss'][1] / 1024:.1f} MiB after",
        "nothing needed", problems_control)
    REPORT.finish()


if __name__ == "__main__":
    main()
