#!/usr/bin/env python3
"""Music benchmarks; run by scripts/bench-music, which sets up the sound
server and builds the binary.

  bench-music.py BIN [--session-s 60] [--rounds 2] [--render-length 50m]

1. CPU (% of one core) and memory of the daemon during a session without
   music and with music (an MP3 made here, stereo 44.1 kHz, decoded and
   resampled to the output), in turns, in the same run, with the load
   average before and after.
2. The size of a rendered session of --render-length in each format,
   without and with music.

Prints a Markdown report on stdout, progress on stderr.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_daemon", os.path.join(HERE, "bench-daemon.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

ROUTINE = "lower-back"


def log(*args):
    print("bench-music:", *args, file=sys.stderr, flush=True)


def make_music(folder):
    """Two minutes of pink noise under a chord, stereo 44.1 kHz MP3."""
    wav = os.path.join(folder, "bed.wav")
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", wav, "synth", "120",
                    "pinknoise", "sine", "220", "sine", "330", "vol", "0.3"], check=True)
    mp3 = os.path.join(folder, "bed.mp3")
    subprocess.run(["lame", "--quiet", "-b", "192", wav, mp3], check=True)
    os.remove(wav)
    return mp3


def session(daemon, seconds, label, music):
    line = daemon.connect()
    options = dict(replace=True)
    if music:
        options["music"] = music
    else:
        options["no_music"] = True
    line.ask("start", routine=ROUTINE, options=options)
    time.sleep(5)  # past the start and the music's fade in
    r = bench.usage(daemon, seconds, label)
    line.ask("stop")
    line.close()
    time.sleep(1)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--session-s", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--render-length", default="50m")
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="mc-bench-music-")
    try:
        music = make_music(root)
        load_before = os.getloadavg()
        daemon = bench.Daemon(args.binary, root)
        runs = []
        for _ in range(args.rounds):
            runs.append(session(daemon, args.session_s, "without music", None))
            runs.append(session(daemon, args.session_s, "with music", music))
        load_after = os.getloadavg()
        daemon.stop()

        sizes = []
        for with_music in (False, True):
            for ext in ("wav", "flac", "ogg"):
                out = os.path.join(root, f"session.{ext}")
                cmd = [args.binary, "render", ROUTINE, "--length", args.render_length, "-o", out]
                if with_music:
                    cmd += ["--music", music]
                t0 = time.monotonic()
                done = subprocess.run(cmd, env=daemon.env, capture_output=True, text=True)
                took = time.monotonic() - t0
                if done.returncode != 0:
                    raise SystemExit(f"render failed: {done.stderr}")
                sizes.append((ext, with_music, os.path.getsize(out), took, done.stdout.strip()))
                log(sizes[-1])
                os.remove(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    uname = os.uname()
    print(f"Machine: {uname.machine}, {os.cpu_count()} cores, {uname.sysname} {uname.release}; "
          f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}.\n")
    print(f"**The daemon during a session of {ROUTINE}, without and with music** "
          f"({args.session_s:.0f} s each, in turns):\n")
    print("| session | CPU % of one core | VmRSS at end | VmHWM | threads |")
    print("|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['label']} | {r['cpu_pct']:.2f} % | {r['rss_kb'] / 1024:.1f} MiB | "
              f"{r['hwm_kb'] / 1024:.1f} MiB | {r['threads']} |")
    print(f"\n**`render {ROUTINE} --length {args.render_length}`** (mono, the voice's 22 050 Hz):\n")
    print("| format | music | size | time to render | says |")
    print("|---|---|---|---|---|")
    for ext, with_music, size, took, says in sizes:
        print(f"| {ext} | {'yes' if with_music else 'no'} | {size / 1e6:.1f} MB | {took:.1f} s | {says} |")


if __name__ == "__main__":
    main()
