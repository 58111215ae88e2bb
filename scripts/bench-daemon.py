#!/usr/bin/env python3
"""Daemon benchmarks; run by scripts/bench-daemon, which sets up the sound
server and builds the release binary.

  bench-daemon.py BIN [--session-s 300] [--idle-s 30] [--pauses 7]

1. Round trip over the socket: `status` requests one after another on one
   connection, and connect + status + close, with no session and with a
   session playing.
2. Pause to silence: a session plays into the null sink while its monitor
   is recorded; `pause` is sent while a clip sounds, and the time from
   sending it to the last recorded sample above a small threshold is
   measured.
3. CPU, wake-ups and memory of the daemon, idle and during a session.

Prints a Markdown report on stdout, progress on stderr.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parec_capture import Capture  # noqa: E402

RATE = 48_000
THRESHOLD = 0.003  # about -50 dBFS; the null sink's silence is exact zeros
ROUTINE = "hip-knee-mobility"


def log(*args):
    print("bench-daemon:", *args, file=sys.stderr, flush=True)


def percentile(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


class Daemon:
    """The release daemon with private XDG folders."""

    def __init__(self, binary, root):
        self.root = root
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
            RUST_LOG="info",
            NO_COLOR="1",
        )
        self.log = open(os.path.join(root, "daemon.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "daemon"], env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.socket(socket.AF_UNIX).connect(self.socket)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon did not answer within 10 s")
                time.sleep(0.01)
        self.pid = self.proc.pid

    def connect(self):
        return Line(self.socket)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)

    # /proc figures, for the whole process (all threads)
    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def status_field(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def switches(self):
        """Context switches of every thread: {tid: (voluntary, involuntary)}."""
        counts = {}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            vol = invol = 0
            try:
                with open(f"/proc/{self.pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vol = int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            invol = int(line.split()[1])
            except FileNotFoundError:
                continue
            counts[tid] = (vol, invol)
        return counts

    def threads(self):
        return len(os.listdir(f"/proc/{self.pid}/task"))


class Line:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def ask(self, request, **fields):
        body = dict(version=1, request=request, **fields)
        self.sock.sendall(json.dumps(body).encode() + b"\n")
        reply = json.loads(self.file.readline())
        if reply.get("reply") != "ok":
            raise SystemExit(f"{request}: {reply}")
        return reply

    def close(self):
        self.file.close()
        self.sock.close()


def round_trips(daemon, n):
    """n status requests on one connection, then n connect+status+close; ms."""
    line = daemon.connect()
    for _ in range(50):  # warm-up
        line.ask("status")
    one = []
    for _ in range(n):
        t = time.perf_counter_ns()
        line.ask("status")
        one.append((time.perf_counter_ns() - t) / 1e6)
    line.close()
    each = []
    for _ in range(n):
        t = time.perf_counter_ns()
        c = daemon.connect()
        c.ask("status")
        c.close()
        each.append((time.perf_counter_ns() - t) / 1e6)
    return one, each


class Recorder(Capture):
    """parec on the null sink's monitor, raw; keeps every sample and, for
    each read, the monotonic time (ns) it arrived and the sample count so far."""

    def __init__(self):
        super().__init__("test_sink.monitor", RATE)

    def loud_since(self, start):
        """Whether any sample from index `start` on is above the threshold."""
        with self.lock:
            data = bytes(self.samples[start * 2:len(self.samples) // 2 * 2])
        return any(abs(v) > THRESHOLD * 32768 for v in struct.unpack(f"<{len(data)//2}h", data))

    def stop(self):
        super().stop()
        n = len(self.samples) // 2
        return struct.unpack(f"<{n}h", bytes(self.samples[:n * 2])), list(self.reads)


def sample_clock(reads, around_ns, window_ns=1_000_000_000):
    """The time of sample 0 on the monotonic clock, from the reads within
    `window_ns` of `around_ns`: a read at t holding N samples means sample
    N-1 was captured no later than t, so t - N/rate bounds the time of
    sample 0 from above; the least of these bounds is taken."""
    bounds = [t - n * 1e9 / RATE for t, n in reads if abs(t - around_ns) <= window_ns]
    return min(bounds), len(bounds)


def pause_to_silence(daemon, trials):
    results = []
    line = daemon.connect()
    for trial in range(trials):
        rec = Recorder()
        # the monitor delivers continuously once it runs
        deadline = time.monotonic() + 10
        while rec.count() < RATE // 10:
            if time.monotonic() > deadline:
                raise SystemExit("parec recorded nothing")
            time.sleep(0.01)
        line.ask("start", routine=ROUTINE)
        # wait for the start announcement to be heard, then pause inside it
        # (the routine's name, cautions and preparation: some 25 s of speech)
        mark = rec.count()
        deadline = time.monotonic() + 10
        while not rec.loud_since(mark):
            if time.monotonic() > deadline:
                raise SystemExit("the session was not heard")
            time.sleep(0.005)
        time.sleep(0.8 + 0.37 * trial)  # land at different points of the speech
        # then pause as soon as the last 20 ms recorded hold speech
        deadline = time.monotonic() + 10
        while not rec.loud_since(max(0, rec.count() - RATE // 50)):
            if time.monotonic() > deadline:
                raise SystemExit("the session went quiet")
            time.sleep(0.002)
        sent = time.monotonic_ns()
        line.ask("pause")
        replied = time.monotonic_ns()
        time.sleep(1.0)
        samples, reads = rec.stop()
        line.ask("stop")
        t0, nreads = sample_clock(reads, sent)
        at = lambda i: t0 + i * 1e9 / RATE
        first_after = max(0, int((sent - t0) * RATE / 1e9))
        loud = [i for i, v in enumerate(samples) if abs(v) > THRESHOLD * 32768]
        before = [i for i in loud if sent - 50e6 <= at(i) < sent]
        after = [i for i in loud if i >= first_after]
        last = max(after) if after else None
        latency = (at(last) - sent) / 1e6 if last is not None else 0.0
        results.append(dict(
            sounding=bool(before), latency_ms=latency,
            reply_ms=(replied - sent) / 1e6, reads=nreads,
        ))
        log(f"pause trial {trial + 1}: sounding before pause={bool(before)} "
            f"last loud sample {latency:.1f} ms after the pause was sent "
            f"(reply after {(replied - sent) / 1e6:.2f} ms)")
    line.close()
    return results


def usage(daemon, seconds, label):
    ticks = os.sysconf("SC_CLK_TCK")
    c0, s0 = daemon.cpu_ticks(), daemon.switches()
    t0 = time.monotonic()
    time.sleep(seconds)
    c1, s1 = daemon.cpu_ticks(), daemon.switches()
    wall = time.monotonic() - t0
    # threads alive at both ends; a thread that started or ended in
    # between counts from zero or until its end is not known
    v0 = sum(s0[t][0] for t in s0 if t in s1)
    i0 = sum(s0[t][1] for t in s0 if t in s1)
    v1 = sum(s1[t][0] for t in s0 if t in s1)
    i1 = sum(s1[t][1] for t in s0 if t in s1)
    v1 += sum(v for t, (v, _) in s1.items() if t not in s0)
    i1 += sum(i for t, (_, i) in s1.items() if t not in s0)
    r = dict(
        label=label, seconds=wall,
        cpu_s=(c1 - c0) / ticks,
        cpu_pct=(c1 - c0) / ticks / wall * 100,
        voluntary=v1 - v0, involuntary=i1 - i0,
        rss_kb=daemon.status_field("VmRSS"), hwm_kb=daemon.status_field("VmHWM"),
        threads=daemon.threads(),
    )
    log(f"{label}: {r}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--session-s", type=float, default=300)
    ap.add_argument("--idle-s", type=float, default=30)
    ap.add_argument("--pauses", type=int, default=7)
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="mc-bench-daemon-")
    try:
        daemon = Daemon(args.binary, root)
        log(f"daemon pid {daemon.pid}")
        idle_hwm_start = daemon.status_field("VmHWM")
        time.sleep(1)
        idle = usage(daemon, args.idle_s, "idle")

        log("round trips, idle")
        rt_idle = round_trips(daemon, args.requests)

        log("pause to silence")
        pauses = pause_to_silence(daemon, args.pauses)

        log(f"a session for {args.session_s:.0f} s")
        line = daemon.connect()
        line.ask("start", routine=ROUTINE)
        time.sleep(5)
        log("round trips, session playing")
        rt_session = round_trips(daemon, args.requests)
        session = usage(daemon, args.session_s, "session")
        status = line.ask("status")["status"]
        line.ask("stop")

        log("memory after sessions of every bundled routine, each started and stopped")
        cycles = []
        routines = sorted(f[:-5] for f in os.listdir(os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "routines")) if f.endswith(".toml"))
        for _ in range(2):
            for r in routines:
                line.ask("start", routine=r)
                time.sleep(0.5)
                line.ask("stop")
                cycles.append(daemon.status_field("VmRSS"))
        time.sleep(1)
        after = usage(daemon, 10, "idle after sessions")
        line.close()
        daemon.stop()
    finally:
        # what the daemon warned about, each message once
        try:
            seen = set()
            with open(os.path.join(root, "daemon.log"), errors="replace") as f:
                for line in f:
                    if " WARN " in line or " ERROR " in line:
                        text = line.split("Z ", 1)[-1].strip()
                        if text not in seen:
                            seen.add(text)
                            log("daemon log:", line.strip())
        except OSError:
            pass
        shutil.rmtree(root, ignore_errors=True)

    def ms(values):
        return (f"{statistics.median(values):.3f} ms | {percentile(values, 99):.3f} ms"
                f" | {max(values):.3f} ms")

    cpu = open("/proc/cpuinfo").read()
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines()
                  if l.startswith("model name")), platform.machine())
    print(f"Machine: {os.cpu_count()} cores ({model}), {platform.system()} "
          f"{platform.release()}, release build.\n")
    print("**Request → reply over the socket** "
          f"({args.requests} `status` requests each):\n")
    print("| | median | p99 | max |\n|---|---|---|---|")
    print(f"| one connection, no session | {ms(rt_idle[0])} |")
    print(f"| connect + status + close, no session | {ms(rt_idle[1])} |")
    print(f"| one connection, session playing | {ms(rt_session[0])} |")
    print(f"| connect + status + close, session playing | {ms(rt_session[1])} |")
    print()
    good = [p for p in pauses if p["sounding"]]
    lat = [p["latency_ms"] for p in good]
    print(f"**Pause → silence** ({len(good)} of {len(pauses)} trials paused while a clip "
          "sounded; the others are left out):\n")
    print("| trial | last sample above threshold after `pause` was sent | pause reply after |")
    print("|---|---|---|")
    for i, p in enumerate(pauses):
        mark = "" if p["sounding"] else " (nothing sounding; left out)"
        print(f"| {i + 1} | {p['latency_ms']:.1f} ms{mark} | {p['reply_ms']:.2f} ms |")
    if lat:
        print(f"\nMedian {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms.\n")
    print("**CPU, wake-ups and memory** (the daemon process, all threads):\n")
    print("| | wall | CPU | CPU % of one core | voluntary ctx switches (/s) "
          "| involuntary | threads | VmRSS at end | VmHWM |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in (idle, session, after):
        print(f"| {r['label']} | {r['seconds']:.0f} s | {r['cpu_s']:.2f} s | "
              f"{r['cpu_pct']:.2f} % | {r['voluntary']} ({r['voluntary'] / r['seconds']:.1f}) | "
              f"{r['involuntary']} | {r['threads']} | {r['rss_kb'] / 1024:.1f} MiB | "
              f"{r['hwm_kb'] / 1024:.1f} MiB |")
    print(f"\nVmHWM at start-up: {idle_hwm_start / 1024:.1f} MiB. Session status at the end of "
          f"the measured {args.session_s:.0f} s: {status['state']}, "
          f"{status['elapsed_ms'] / 1000:.0f} s in.")
    print("VmRSS after each start + stop (every bundled routine, twice): "
          + ", ".join(f"{kb / 1024:.1f}" for kb in cycles) + " MiB.")


if __name__ == "__main__":
    main()
