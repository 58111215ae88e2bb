#!/usr/bin/env python3
"""Spoken-command benchmarks; run by scripts/bench-listen, which builds the
binaries, installs nothing and sets up a private sound server.

  bench-listen.py --bin BIN --listen-wav EXAMPLE --kokoro DIR --cache DIR
                  [--parts detection,false,live] [--fa-hours 2] [--live-trials 40]

1. Detection: every command phrase after the wake word, and "stop" alone,
   said by 5 Kokoro voices at 4 speeds (240 utterances), clean and again
   with music or another person talking 10 dB below (240 more). Each is
   heard by the shipped recogniser (examples/listen_wav.rs feeds the WAV
   files to `massage_cue::listen::recogniser` in the daemon's 30 ms
   pieces, one stream, a second of silence after each), faster than real
   time. Right: exactly the command said was heard. Wrong: another command
   was heard. Missed: nothing was.
2. False alarms: audio with no command in it, heard the same way: every
   bundled routine rendered by `massage-cue render` (the daemon's own
   cues, tips read aloud: --detail full), Kokoro voices reading the
   routines' tips, and synthesised music. The gate that keeps the
   daemon's own cues from the recogniser is not applied: this is what
   would be heard with no gate at all.
3. Live, through the real daemon: a session listens on the virtual
   microphone `test_mic`; "massage pause" and "massage continue" are
   played in turn with paplay, once the daemon is quiet. Latency: from the
   end of the speech (paplay's exit less the silence after the speech in
   the file) to the status update that shows the new state, received on
   a subscription. CPU and memory of the daemon (and its parec) while a
   session listens and while the same session does not.

Prints a Markdown report on stdout, progress on stderr.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from parec_capture import Capture  # noqa: E402

ROOT = os.path.dirname(HERE)
WAKE = "massage"
PHRASES = [
    "pause", "continue", "resume", "next", "back", "again", "repeat",
    "more time", "less time", "how long", "stop",
]
VOICES = ["af_heart", "am_michael", "bm_george", "af_bella", "am_adam"]
SPEEDS = [0.85, 0.95, 1.05, 1.2]
TAIL_S = 0.8  # silence after the speech in each generated file


def log(*args):
    print("bench-listen:", *args, file=sys.stderr, flush=True)


def percentile(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def bench_daemon_module():
    spec = importlib.util.spec_from_file_location("bench_daemon", os.path.join(HERE, "bench-daemon.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(args, jobs):
    """The jobs' WAV files (scripts/listen-utterances.py); their answers."""
    proc = subprocess.run(
        [os.path.join(args.kokoro, "venv/bin/python"), os.path.join(HERE, "listen-utterances.py"),
         "--kokoro", args.kokoro, "--out", args.cache],
        input="".join(json.dumps(j) + "\n" for j in jobs), capture_output=True, text=True,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or len(answers) != len(jobs):
        raise SystemExit(f"listen-utterances failed: {proc.stderr[-2000:]}")
    return answers


def noise_file(args, kind, seconds, seed):
    proc = subprocess.run(
        [os.path.join(args.kokoro, "venv/bin/python"), os.path.join(HERE, "listen-utterances.py"),
         "--kokoro", args.kokoro, "--out", args.cache, "--noise-only", str(seconds),
         "--noise", kind, "--seed", str(seed)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout)["out"]


def hear(args, files):
    """What the recogniser heard in each file; (per file, wall seconds)."""
    proc = subprocess.run([args.listen_wav, *files], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"listen_wav failed: {proc.stderr[-2000:]}")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    usage = lines.pop()
    return lines, usage


# listen_wav names a command by its first phrase: "resume" is heard as the
# command "continue" is
SAME = {"resume": "continue", "repeat": "again"}


def expected(phrase):
    return SAME.get(phrase, phrase)


def detection(args):
    jobs, meta = [], []
    seed = 1000
    for voice in VOICES:
        for speed in SPEEDS:
            for phrase in PHRASES + ["bare stop"]:
                text = "stop" if phrase == "bare stop" else f"{WAKE} {phrase}"
                for noisy in (False, True):
                    seed += 1
                    kind = ("music", "speech")[seed % 2] if noisy else None
                    jobs.append({"text": text, "voice": voice, "speed": speed, "noise": kind,
                                 "snr_db": 10, "seed": seed})
                    meta.append((phrase, kind))
    log(f"detection: {len(jobs)} utterances (generated once, then from {args.cache})")
    answers = generate(args, jobs)
    cpu0 = os.times()
    heard, usage = hear(args, [a["out"] for a in answers])
    cpu1 = os.times()
    rows = {}
    latencies = []
    wrong_examples = []
    for (phrase, kind), answer, h in zip(meta, answers, heard):
        said = [x["said"] for x in h["heard"]]
        key = (phrase, "noisy" if kind else "clean")
        row = rows.setdefault(key, {"n": 0, "right": 0, "wrong": 0, "missed": 0})
        row["n"] += 1
        if said == [expected(phrase)]:
            row["right"] += 1
            if not kind:  # with noise, the stretch of sound ends with the noise
                latencies.append((h["heard"][0]["at_s"] - answer["speech_end_s"]) * 1000)
        elif said:
            row["wrong"] += 1
            wrong_examples.append(f'"{phrase}" as "{", ".join(said)}"')
        else:
            row["missed"] += 1
    audio_s = usage["audio_s"]
    cpu_s = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    return rows, latencies, wrong_examples, audio_s, cpu_s


def false_alarms(args, bin_path, hours):
    total = 0.0
    work = os.path.join(args.cache, "sessions")
    os.makedirs(work, exist_ok=True)
    routines = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "routines")) if f.endswith(".toml"))
    env = dict(os.environ, MASSAGE_CUE_ROUTINES=os.path.join(ROOT, "routines"))
    sources = []
    for routine in routines:
        for level in ("mid",):
            out = os.path.join(work, f"{routine}-{level}-full.wav")
            if not os.path.exists(out):
                log(f"false alarms: rendering {routine} (--level {level} --detail full)")
                raw = out + ".render.wav"
                subprocess.run([bin_path, "render", routine, "--level", level, "--detail", "full",
                                "--output", raw], env=env, check=True, stdout=subprocess.DEVNULL)
                subprocess.run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", out], check=True)
                os.remove(raw)
            sources.append(("the bundled sessions (render --detail full)", out))
    # the routines' tips read by other voices
    tips = []
    for routine in routines:
        with open(os.path.join(ROOT, "routines", routine + ".toml")) as f:
            for line in f:
                if line.startswith("tip = "):
                    tips.append(json.loads(line[len("tip = "):].strip()))
    jobs = [{"text": tip, "voice": "am_michael", "speed": 1.0} for tip in tips]
    log(f"false alarms: {len(jobs)} tips read aloud")
    for answer in generate(args, jobs):
        sources.append(("the routines' tips read by am_michael (Kokoro)", answer["out"]))
    # music fills the rest up to `hours`
    heard_files = [path for _, path in sources]
    lines, usage = hear(args, heard_files)
    by_source = {}
    for (source, _), line in zip(sources, lines):
        entry = by_source.setdefault(source, {"s": 0.0, "alarms": []})
        entry["s"] += line["seconds"]
        entry["alarms"] += [x["said"] for x in line["heard"]]
    total = sum(e["s"] for e in by_source.values())
    music_s = max(1800.0, hours * 3600 - total)
    chunks = []
    left, seed = music_s, 1
    while left > 0:
        part = min(600.0, left)
        chunks.append(noise_file(args, "music", part, seed))
        left -= part
        seed += 1
    log(f"false alarms: {music_s / 60:.0f} min of music")
    lines, _ = hear(args, chunks)
    entry = by_source.setdefault("synthesised music", {"s": 0.0, "alarms": []})
    for line in lines:
        entry["s"] += line["seconds"]
        entry["alarms"] += [x["said"] for x in line["heard"]]
    return by_source


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--listen-wav", required=True)
    ap.add_argument("--kokoro", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--parts", default="detection,false,live")
    ap.add_argument("--fa-hours", type=float, default=2.0)
    ap.add_argument("--live-trials", type=int, default=40)
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    os.makedirs(args.cache, exist_ok=True)
    out = []
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    out.append(f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()}; "
               f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.")
    out.append("")
    if "detection" in parts:
        rows, latencies, wrong, audio_s, cpu_s = detection(args)
        out.append("**Detection** (one stream, each utterance followed by 1 s of silence):")
        out.append("")
        out.append("| command | clean: right / wrong / missed of n | 10 dB SNR: right / wrong / missed of n |")
        out.append("|---|---|---|")
        tot = {"clean": [0, 0, 0, 0], "noisy": [0, 0, 0, 0]}
        for phrase in PHRASES + ["bare stop"]:
            cells = []
            for cond in ("clean", "noisy"):
                r = rows[(phrase, cond)]
                t = tot[cond]
                t[0] += r["right"]; t[1] += r["wrong"]; t[2] += r["missed"]; t[3] += r["n"]
                cells.append(f"{r['right']} / {r['wrong']} / {r['missed']} of {r['n']} ({100 * r['right'] / r['n']:.0f} %)")
            name = '"stop" alone' if phrase == "bare stop" else f'"{WAKE} {phrase}"'
            out.append(f"| {name} | {cells[0]} | {cells[1]} |")
        cells = [f"**{t[0]} / {t[1]} / {t[2]} of {t[3]} ({100 * t[0] / t[3]:.1f} %)**" for t in (tot["clean"], tot["noisy"])]
        out.append(f"| all | {cells[0]} | {cells[1]} |")
        out.append("")
        if latencies:
            out.append(f"Recogniser latency (the end of the speech in the file to the detection, in audio time, "
                       f"over the clean utterances heard right): median {statistics.median(latencies):.0f} ms, "
                       f"p95 {percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms.")
        out.append(f"Speed: {audio_s / 60:.1f} min of audio heard with {cpu_s:.1f} s of processor time "
                   f"({100 * cpu_s / audio_s:.1f} % of one core).")
        if wrong:
            from collections import Counter
            out.append("")
            out.append("Heard as another command (clean and noisy): "
                       + "; ".join(f"{w} ×{n}" for w, n in Counter(wrong).most_common()) + ".")
        out.append("")
        print("\n".join(out), flush=True)
        out = []
    if "false" in parts:
        by_source = false_alarms(args, args.bin, args.fa_hours)
        out.append("**False alarms** (audio with no command; no gate):")
        out.append("")
        out.append("| audio | length | commands heard | bare \"stop\" heard |")
        out.append("|---|---|---|---|")
        total_s = total_cmd = total_bare = 0
        for source, e in by_source.items():
            cmds = [a for a in e["alarms"] if a != "bare stop"]
            bare = len(e["alarms"]) - len(cmds)
            total_s += e["s"]; total_cmd += len(cmds); total_bare += bare
            detail = f" ({', '.join(sorted(cmds))})" if cmds else ""
            out.append(f"| {source} | {e['s'] / 60:.0f} min | {len(cmds)}{detail} | {bare} |")
        hours = total_s / 3600
        out.append(f"| all | {hours:.2f} h | {total_cmd} ({total_cmd / hours:.2f} per hour) | {total_bare} ({total_bare / hours:.2f} per hour) |")
        out.append("")
        print("\n".join(out), flush=True)
        out = []
    if "live" in parts:
        print("\n".join(out + live(args)), flush=True)


def live(args):
    bd = bench_daemon_module()
    root = tempfile.mkdtemp(prefix="bench-listen-")
    os.makedirs(os.path.join(root, "config", "massage-cue"))
    with open(os.path.join(root, "config", "massage-cue", "config.toml"), "w") as f:
        f.write('[listen]\nsource = "test_mic.monitor"\n')
    routine = os.path.join(root, "long.toml")
    with open(routine, "w") as f:
        f.write('name = "Long holds"\n[defaults]\nchange = "1s"\n'
                '[[step]]\nname = "Palm pressing"\ntime = "30m"\n')
    daemon = bd.Daemon(args.bin, root)
    answers = generate(args, [
        {"text": f"{WAKE} pause", "voice": "am_michael", "speed": 1.0},
        {"text": f"{WAKE} continue", "voice": "am_michael", "speed": 1.0},
    ])
    quiet = [time.monotonic()]
    updates = []  # (monotonic, state)
    lock = threading.Lock()

    def subscribe():
        line = daemon.connect()
        line.ask("subscribe")
        for raw in line.file:
            update = json.loads(raw)
            now = time.monotonic()
            with lock:
                cue = update.get("cue")
                if cue:
                    quiet[0] = max(quiet[0], now + cue["duration_ms"] / 1000 + 1.2)
                updates.append((now, update.get("status", {}).get("state")))

    threading.Thread(target=subscribe, daemon=True).start()
    time.sleep(0.3)

    def wait_quiet():
        while True:
            with lock:
                q = quiet[0]
            now = time.monotonic()
            if now >= q:
                return
            time.sleep(q - now)

    def usage(seconds):
        t0 = time.monotonic()
        c0 = daemon.cpu_ticks() + children_ticks(daemon.pid)
        time.sleep(seconds)
        c1 = daemon.cpu_ticks() + children_ticks(daemon.pid)
        return 100 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)

    out = ["**Live, through the daemon** (virtual microphone `test_mic`; \"massage pause\" and "
           "\"massage continue\", am_michael, played in turn once the daemon is quiet):", ""]
    # without listening first: the same session, quiet between cues
    c = daemon.connect()
    c.ask("start", routine=routine)
    time.sleep(8)
    wait_quiet()
    cpu_off = usage(30)
    mem_off = memory(daemon.pid)
    c.ask("stop")
    c.ask("start", routine=routine, options={"listen": True})
    deadline = time.monotonic() + 20
    while not str(c.ask("status")["status"].get("listening", "")).startswith("listening on"):
        if time.monotonic() > deadline:
            raise SystemExit("the session does not listen")
        time.sleep(0.1)
    time.sleep(8)
    wait_quiet()
    cpu_on = usage(30)
    mem_on = memory(daemon.pid)
    env = dict(os.environ)
    mic = Mic()
    lat, missed = [], 0
    for trial in range(args.live_trials):
        want = ("paused", "running")[trial % 2]
        answer = answers[trial % 2]
        wait_quiet()
        time.sleep(0.3)
        with lock:
            n = len(updates)
        mark = mic.count()
        subprocess.run(["paplay", "-d", "test_mic", answer["out"]], env=env, check=True)
        speech_end = mic.last_loud_time(mark)
        deadline = time.monotonic() + 4
        got = None
        while time.monotonic() < deadline and got is None:
            with lock:
                for t, state in updates[n:]:
                    if state == want:
                        got = t
                        break
            time.sleep(0.01)
        if got is None or speech_end is None:
            missed += 1
            # put the session where the next trial expects it
            c.ask("pause" if want == "paused" else "resume")
            time.sleep(1.5)
        else:
            lat.append((got - speech_end) * 1000)
    mic.stop()
    c.ask("stop")
    daemon.stop()
    out.append(f"- Latency, the last sample of the speech on the microphone (recorded from `test_mic.monitor`, "
               f"-40 dBFS, its time from the reads' arrival) to the update with the new state on a subscription: "
               + (f"median {statistics.median(lat):.0f} ms, p95 {percentile(lat, 95):.0f} ms, max {max(lat):.0f} ms "
                  if lat else "")
               + f"over {len(lat)} commands acted on; {missed} of {args.live_trials} not acted on within 4 s.")
    out.append(f"- Processor, daemon and its parec, 30 s of a session between cues: {cpu_on:.1f} % of one core "
               f"listening, {cpu_off:.1f} % not listening.")
    out.append(f"- Memory of the daemon listening: RSS {mem_on['rss'] / 1024:.1f} MiB, of which the files it maps "
               f"{mem_on['file'] / 1024:.1f} MiB (the speech model, the binary, libraries) and its own memory "
               f"{mem_on['anon'] / 1024:.1f} MiB; not listening: RSS {mem_off['rss'] / 1024:.1f} MiB, own "
               f"{mem_off['anon'] / 1024:.1f} MiB. The recording `parec`: RSS {mem_on['children'] / 1024:.1f} MiB.")
    out.append("")
    return out


class Mic(Capture):
    """parec on the virtual microphone's monitor: every sample, and for each
    read the monotonic time (s) it arrived and the sample count so far."""

    RATE = 16_000
    THRESHOLD = 328  # -40 dBFS

    def __init__(self):
        super().__init__("test_mic.monitor", self.RATE, clock=time.monotonic)
        deadline = time.monotonic() + 10
        while self.count() < self.RATE // 10:
            if time.monotonic() > deadline:
                raise SystemExit("parec recorded nothing from test_mic.monitor")
            time.sleep(0.01)

    def last_loud_time(self, start):
        """When the last sample above the threshold since `start` was
        captured (monotonic seconds), once 0.5 s of quiet followed it."""
        import array

        deadline = time.monotonic() + 5
        while True:
            with self.lock:
                n = len(self.samples) // 2
                data = array.array("h", bytes(self.samples[start * 2:n * 2]))
                reads = list(self.reads)
            loud = [i for i, v in enumerate(data) if abs(v) > self.THRESHOLD]
            if loud and len(data) - loud[-1] > self.RATE // 2:
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        last = start + loud[-1]
        # a read at t holding N samples: sample N-1 was captured by t
        t_last = min(t - (count - 1 - last) / self.RATE for t, count in reads if count > last)
        return t_last



def children_ticks(pid):
    """CPU ticks of the live children of `pid` (the recording parec)."""
    total = 0
    for child in children(pid):
        try:
            with open(f"/proc/{child}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        kids = []
    # threads other than the main one start children too
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return sorted(set(kids))


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0])
    kids = 0
    for child in children(pid):
        try:
            with open(f"/proc/{child}/status") as f:
                kids += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration):
            pass
    return {"rss": fields.get("VmRSS", 0), "anon": fields.get("RssAnon", 0) + fields.get("RssShmem", 0),
            "file": fields.get("RssFile", 0), "children": kids}


if __name__ == "__main__":
    main()
