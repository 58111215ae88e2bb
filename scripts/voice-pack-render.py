#!/usr/bin/env python3
"""Renders the massage-cue voice pack: every phrase as a trimmed,
loudness-matched clip, the tick and the chime, and the index.

Clips are stored in banks: a family of phrases that differ only in their
numbers ("Session 4 of 15.", "Session 5 of 15.") shares one Ogg Vorbis file,
the clips one after another with short silences between them, and the index
gives each clip's first sample and length. Each Vorbis file carries about
3.5 kB of codec headers, which alone would be a third of the pack if every
clip had its own file.

Run by scripts/build-voice-pack inside its virtualenv; see sounds/README.md.
Runs with the Python of the voice installed by scripts/install-voice
(kokoro-onnx, numpy) and needs the sox command with Ogg Vorbis support.
"""

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

# Every clip of the pack is mono at this rate; the player shares it.
RATE = 22050
# Bump when trimming, levelling or encoding changes, so every clip is redone.
PIPELINE = 8
# Vorbis quality (sox -C): 0 is about 30 kbit/s for mono speech at 22 kHz,
# plenty for a voice; each file also carries about 3.5 kB of codec headers.
VORBIS_QUALITY = 0

# Loudness: every clip's integrated loudness (BS.1770, LUFS) is brought to
# this, unless the peak would pass the ceiling.
TARGET_LUFS = -20.0
# The ceiling leaves room for the codec, whose peaks overshoot by up to 1.5 dB;
# a limiter keeps peaks under it, its gain held this long around each.
LIMIT_HOLD_MS = 5
PEAK_CEILING_DBFS = -3.0
# Silence trimming: frames quieter than this below the loudest frame, and
# never louder than the floor, count as silence at either end.
TRIM_BELOW_PEAK_DB = 40.0
TRIM_FLOOR_DBFS = -60.0
# Kept around the speech so that soft onsets and tails are not clipped.
LEAD_MS = 15
TAIL_MS = 35
FADE_IN_MS = 4
FADE_OUT_MS = 12

# Phrases of this many words or more (tips, preparation, cautions) are read
# at the slower pace.
LONG_PHRASE_WORDS = 8
SENTENCE_GAP_S = 0.45

INDEX_HEADER = "kind\tkey\tfile\tstart\tlength\tduration_ms\thash"
# Clips per bank, and the silence between two clips in a bank (it keeps the
# codec's smearing of one clip's edges away from the next).
BANK_SIZE = 20
BANK_GAP_S = 0.1
# Families smaller than this share the "phrases" banks.
MIN_FAMILY = 4


def key_of(text):
    """The index key: whitespace collapsed and trimmed, otherwise exact."""
    return " ".join(text.split())


def slug(text):
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s[:40].rstrip("-")) or "phrase"


def db(x):
    return 20.0 * math.log10(max(float(x), 1e-12))


def frames_rms(a, frame):
    n = len(a) // frame
    if n == 0:
        return np.array([math.sqrt(float(np.mean(a * a))) if len(a) else 0.0])
    f = a[: n * frame].reshape(n, frame)
    return np.sqrt(np.mean(f * f, axis=1))


def trim_silence(a, rate):
    """Cuts silence at both ends, keeping a short lead and tail."""
    hop = max(1, int(0.005 * rate))
    env = frames_rms(a, hop)
    if env.max() <= 0:
        return a[:0]
    threshold = max(env.max() * 10 ** (-TRIM_BELOW_PEAK_DB / 20), 10 ** (TRIM_FLOOR_DBFS / 20))
    loud = np.where(env > threshold)[0]
    if len(loud) == 0:
        return a[:0]
    start = max(0, loud[0] * hop - int(LEAD_MS * rate / 1000))
    end = min(len(a), (loud[-1] + 1) * hop + int(TAIL_MS * rate / 1000))
    return a[start:end]


def fade(a, rate, fade_in_ms, fade_out_ms):
    a = a.copy()
    n_in = min(len(a), int(fade_in_ms * rate / 1000))
    n_out = min(len(a), int(fade_out_ms * rate / 1000))
    if n_in:
        a[:n_in] *= 0.5 - 0.5 * np.cos(np.linspace(0, math.pi, n_in))
    if n_out:
        a[-n_out:] *= 0.5 + 0.5 * np.cos(np.linspace(0, math.pi, n_out))
    return a


def loudness(a, rate):
    """Integrated loudness in LUFS (ITU-R BS.1770-4: K-weighted, gated),
    by pyloudnorm. A clip shorter than the 400 ms the measure needs is
    measured repeated end to end, which does not change its loudness."""
    import pyloudnorm

    a = np.asarray(a, dtype=np.float64)
    need = int(0.45 * rate)
    if 0 < len(a) < need:
        a = np.tile(a, need // len(a) + 1)
    return float(pyloudnorm.Meter(rate).integrated_loudness(a))


def level(a, rate):
    """`a` brought to the target loudness; the few peaks that would pass
    the ceiling (a plosive, a stressed vowel) are held under it by a
    limiter, so that a peaky clip is not left quieter than the others."""
    gain_db = TARGET_LUFS - loudness(a, rate)
    return limit(a * (10 ** (gain_db / 20)), rate, 10 ** (PEAK_CEILING_DBFS / 20))


def limit(a, rate, ceiling):
    """A look-ahead peak limiter: the gain each sample needs to stay under
    `ceiling`, held for LIMIT_HOLD_MS either side and smoothed, so that it
    changes over milliseconds, not within a waveform's cycle."""
    from scipy.ndimage import minimum_filter1d

    need = np.minimum(1.0, ceiling / np.maximum(np.abs(a), 1e-9))
    if len(a) == 0 or need.min() >= 1.0:
        return a
    n = max(1, int(LIMIT_HOLD_MS * rate / 1000))
    gain = minimum_filter1d(need, size=2 * n + 1)
    window = np.hanning(2 * n + 1)
    gain = np.convolve(gain, window / window.sum(), mode="same")
    return a * np.minimum(gain, need)


def write_wav(path, a, rate):
    pcm = (np.clip(a, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def read_wav(path):
    with wave.open(path, "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {width * 8}-bit WAV, expected 16-bit")
    a = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        a = a.reshape(-1, channels).mean(axis=1)
    return a, rate


def encode(a, rate, out_path):
    """Writes `a` (float mono at `rate`, which must be RATE) as Ogg Vorbis;
    returns the number of samples in the file."""
    assert rate == RATE
    fd, tmp_wav = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    tmp_ogg = out_path + ".tmp.ogg"
    try:
        write_wav(tmp_wav, a, rate)
        subprocess.run(["sox", "-V1", tmp_wav, "-C", str(VORBIS_QUALITY), "--comment", "", tmp_ogg], check=True)
        samples = int(subprocess.run(["soxi", "-s", tmp_ogg], check=True, capture_output=True, text=True).stdout.strip())
        os.replace(tmp_ogg, out_path)
        return samples
    finally:
        for p in (tmp_wav, tmp_ogg):
            if os.path.exists(p):
                os.remove(p)


def to_rate(a, rate):
    """`a` resampled from `rate` to RATE (by sox, which does it well)."""
    if rate == RATE:
        return a
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.wav"), os.path.join(d, "out.wav")
        write_wav(src, a, rate)
        subprocess.run(["sox", "-V1", src, "-r", str(RATE), dst, "rate", "-v"], check=True)
        return read_wav(dst)[0]


def duration_ms(samples):
    # rounded up, as the player's Clip::duration_ms does
    return (samples * 1000 + RATE - 1) // RATE


class Kokoro:
    """Kokoro-82M (int8 ONNX) through kokoro-onnx, as installed by
    scripts/install-voice, with its helper's respellings; loaded once."""

    def __init__(self, folder, voice, threads=0):
        self.folder = folder
        self.voice = voice
        self.threads = threads
        self.speak = load_helper(folder)
        self.kokoro = None

    def identity(self):
        """What decides how a clip sounds, without loading the model."""
        with open(os.path.join(self.folder, "installed"), encoding="utf-8") as f:
            stamp = f.read().split()
        return {
            "engine": "kokoro-onnx " + version_of("kokoro-onnx") + ", onnxruntime " + version_of("onnxruntime"),
            "model": "kokoro-v1.0.int8.onnx " + stamp[0][:16],
            "voice": self.voice,
        }

    def spoken(self, text):
        return self.speak.respelled(text)

    def render(self, text, speed):
        if self.kokoro is None:
            self.kokoro = self.speak.load(self.folder, [self.voice], self.threads)
        audio, rate = self.speak.render(self.kokoro, text, self.voice, speed)
        return np.asarray(audio, dtype=np.float32), rate


WORKER = {}


def worker_init(folder, voice):
    WORKER["engine"] = Kokoro(folder, voice, threads=1)


def worker_render(job):
    """Renders one phrase into the build cache (in a worker process)."""
    text, speed, path = job
    audio, rate = WORKER["engine"].render(text, speed)
    write_wav(path + f".{os.getpid()}.tmp", audio, rate)
    os.replace(path + f".{os.getpid()}.tmp", path)
    return text


def load_helper(folder):
    import importlib.util

    spec = importlib.util.spec_from_file_location("kokoro_speak", os.path.join(folder, "speak.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pace(text, args):
    """The engine's speed for a phrase: instructions of several words are
    read more slowly than short cues, which must fit a repetition's tempo."""
    return args.long_speed if len(text.split()) >= LONG_PHRASE_WORDS else args.speed


def version_of(dist):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "unknown"


def phrase_hash(text, identity):
    blob = json.dumps({"text": text, "identity": identity, "pipeline": PIPELINE, "rate": RATE, "quality": VORBIS_QUALITY}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_index(path):
    """The rows of an existing index, by (kind, key)."""
    entries = {}
    if not os.path.exists(path):
        return entries
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or line == INDEX_HEADER:
                continue
            fields = line.split("\t")
            if len(fields) != 7:
                continue
            kind, key, file, start, length, ms, h = fields
            entries[(kind, key)] = {
                "file": file,
                "start": int(start),
                "length": int(length),
                "duration_ms": int(ms),
                "hash": h,
            }
    return entries


def natural(text):
    """Sort key that puts "Round 2" before "Round 10"."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text)]


def priority(text):
    """Render order: short cues and single words, then counts ("17", "3."),
    then longer phrases without numbers (tips, cautions), shortest first,
    then the families of numbered phrases by their largest number. Words
    and counts come first because the player joins them into phrases the
    pack lacks."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    words = len(text.split())
    if not numbers:
        return (0, 0, len(text), text) if words <= 4 else (2, 0, len(text), text)
    if re.fullmatch(r"\d+\.?", text):
        return (1, numbers[0], 0, text)
    return (3, max(numbers), len(numbers), text)


def banks_of(keys):
    """Groups phrases into banks: (bank name, phrases in order)."""
    families = {}
    for k in keys:
        families.setdefault(re.sub(r"\d+", "#", k), []).append(k)
    named, misc = [], []
    for signature, members in sorted(families.items()):
        if len(members) < MIN_FAMILY:
            misc.extend(members)
            continue
        # "1" and "1." are different families with the same slug: the
        # signature's hash tells them apart
        tag = hashlib.sha256(signature.encode()).hexdigest()[:6]
        name = f"{slug(signature.replace('#', 'n'))}-{tag}"
        named.append((name, sorted(members, key=natural)))
    named.append(("phrases", sorted(misc, key=natural)))
    banks = []
    for name, members in named:
        for i in range(0, len(members), BANK_SIZE):
            banks.append((f"{name}-{i // BANK_SIZE + 1:02d}", members[i : i + BANK_SIZE]))
    names = [name for name, _ in banks]
    if len(set(names)) != len(names):
        raise SystemExit("voice pack: two banks would share a file name")
    return banks


def looks_like_ogg(path):
    try:
        with open(path, "rb") as f:
            return os.path.getsize(path) > 100 and f.read(4) == b"OggS"
    except OSError:
        return False


def tick():
    """A soft, low click: two damped partials, 45 ms."""
    n = int(0.045 * RATE)
    t = np.arange(n) / RATE
    body = np.sin(2 * math.pi * 520 * t) * np.exp(-t / 0.008)
    knock = 0.35 * np.sin(2 * math.pi * 1150 * t) * np.exp(-t / 0.003)
    a = body + knock
    a = fade(a, RATE, 1.5, 10)
    return a / np.max(np.abs(a)) * 10 ** (-14 / 20)


def chime():
    """A soft bell: a few inharmonic partials, each ringing out at its own
    rate, with a slow beat on the fundamental. 1.8 s."""
    n = int(1.8 * RATE)
    t = np.arange(n) / RATE
    f0 = 587.33  # D5
    partials = [(1.0, 1.0, 0.9), (2.0, 0.35, 0.55), (2.76, 0.18, 0.35), (4.07, 0.07, 0.22), (5.40, 0.03, 0.15)]
    a = np.zeros(n)
    for ratio, amp, tau in partials:
        a += amp * np.sin(2 * math.pi * f0 * ratio * t) * np.exp(-t / tau)
    a += 0.5 * np.sin(2 * math.pi * (f0 + 1.3) * t) * np.exp(-t / 0.9)
    a = fade(a, RATE, 6, 250)
    return a / np.max(np.abs(a)) * 10 ** (-12 / 20)


SOUNDS = {"tick": (tick, "tick.ogg"), "chime": (chime, "chime.ogg")}


def decode(path):
    """The samples of an Ogg file, decoded by sox, as float mono."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.wav")
        subprocess.run(["sox", "-V1", path, "-b", "16", out], check=True)
        return read_wav(out)


def family(file):
    """The bank family a clip belongs to: its file name without the
    number of the bank and the signature's hash."""
    name = os.path.basename(file).rsplit(".", 1)[0]
    name = re.sub(r"-\d\d$", "", name)
    return re.sub(r"-[0-9a-f]{6}$", "", name)


def measure(sounds):
    """Figures of the pack as it is committed, read back from the files
    the player reads (decoded Ogg, cut by the index): size, phrases and
    minutes of speech by family, loudness, peaks, clip edges, count
    lengths."""
    index = read_index(os.path.join(sounds, "voice", "index.tsv"))
    speech = {k: e for (kind, k), e in index.items() if kind == "speech"}
    decoded = {}
    rows = []
    for k, e in sorted(speech.items()):
        if e["file"] not in decoded:
            decoded[e["file"]] = decode(os.path.join(sounds, e["file"]))[0]
        a = decoded[e["file"]][e["start"] : e["start"] + e["length"]]
        rows.append((k, e, a))
    size = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(sounds) for fn in fns)
    ogg = sum(os.path.getsize(os.path.join(sounds, f)) for f in decoded)
    minutes = sum(e["duration_ms"] for _, e, _ in rows) / 60000
    print(f"size: {size / 1e6:.2f} MB in all ({ogg / 1e6:.2f} MB of voice Ogg Vorbis): {len(rows)} phrases, "
          f"{minutes:.1f} minutes of speech, in {len(decoded)} bank files")
    fams = {}
    for k, e, _ in rows:
        f = fams.setdefault(family(e["file"]), {"n": 0, "ms": 0, "files": set()})
        f["n"] += 1
        f["ms"] += e["duration_ms"]
        f["files"].add(e["file"])
    print("| bank family | phrases | speech | size |")
    print("|---|---|---|---|")
    for name, f in sorted(fams.items(), key=lambda kv: -sum(os.path.getsize(os.path.join(sounds, x)) for x in kv[1]["files"]))[:12]:
        fsize = sum(os.path.getsize(os.path.join(sounds, x)) for x in f["files"])
        print(f"| `{name}` | {f['n']} | {f['ms'] / 60000:.1f} min | {fsize / 1e6:.2f} MB |")
    lv = np.array([loudness(a, RATE) for _, _, a in rows])
    pk = np.array([db(np.max(np.abs(a))) for _, _, a in rows])
    med = float(np.median(lv))
    within = int(np.sum(np.abs(lv - med) <= 1.0))
    print(f"loudness (BS.1770 integrated): median {med:.1f} LUFS, all within {lv.min():.1f} .. {lv.max():.1f}, "
          f"{within} of {len(lv)} within 1 LU of the median; quietest: "
          + "; ".join(f"'{rows[i][0]}' {lv[i]:.1f}" for i in np.argsort(lv)[:3]))
    print(f"peaks: at most {pk.max():.1f} dBFS (median {np.median(pk):.1f})")
    edge = int(0.005 * RATE)
    heads = [db(np.max(np.abs(a[:edge]))) for _, _, a in rows]
    tails = [db(np.max(np.abs(a[-edge:]))) for _, _, a in rows]
    print(f"edges: first 5 ms at most {max(heads):.1f} dBFS, last 5 ms at most {max(tails):.1f} dBFS")
    counts = [(int(k), e["duration_ms"]) for k, e, _ in rows if k.isdigit()]
    small = [ms for n, ms in counts if n <= 40]
    if small:
        longest = max(counts, key=lambda c: c[1])
        print(f"counts 1-40: {min(small)}-{max(small)} ms; the longest count, '{longest[0]}', {longest[1]} ms")
    others = [e["duration_ms"] for k, e, _ in rows if not k.isdigit()]
    print(f"other clips: {min(others)}-{max(others)} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sounds", required=True, help="the sounds/ folder")
    ap.add_argument("--measure", action="store_true", help="only print figures of the pack as committed")
    ap.add_argument("--phrases", action="append", default=[], help="a file of phrases, one a line")
    ap.add_argument("--kokoro", help="the folder scripts/install-voice installed the voice in")
    ap.add_argument("--voice", default="af_heart")
    ap.add_argument("--speed", type=float, default=1.0, help="speed of short cues; above 1 is faster")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="phrases rendered at once")
    ap.add_argument("--long-speed", type=float, default=0.9, help="speed of instructions")
    ap.add_argument("--force", action="store_true", help="render every clip again")
    ap.add_argument("--pcm-cache", help="where the engine's output is kept between runs")
    ap.add_argument("--cached-only", action="store_true", help="leave out phrases not rendered yet")
    ap.add_argument("--keep-indexed", action="store_true", help="keep the phrases already in the index")
    args = ap.parse_args()
    if args.measure:
        measure(args.sounds)
        return
    if not args.kokoro or not args.pcm_cache:
        ap.error("--kokoro and --pcm-cache are needed to render")

    voice_dir = os.path.join(args.sounds, "voice")
    os.makedirs(os.path.join(voice_dir, "banks"), exist_ok=True)
    index_path = os.path.join(voice_dir, "index.tsv")
    old = {} if args.force else read_index(index_path)

    keys = []
    seen = set()
    for path in args.phrases:
        with open(path, encoding="utf-8") as f:
            for line in f:
                k = key_of(line)
                if k and not k.startswith("#") and k not in seen:
                    seen.add(k)
                    keys.append(k)
    if args.keep_indexed:
        # without the planner's list, keep every phrase the pack already has
        for kind, k in old:
            if kind == "speech" and k not in seen:
                seen.add(k)
                keys.append(k)
    keys.sort()

    engine = Kokoro(args.kokoro, args.voice)  # the model loads on the first phrase rendered
    identity = engine.identity()
    os.makedirs(args.pcm_cache, exist_ok=True)
    rows = []
    rendered = kept = 0
    started = time.time()
    levels, peaks = [], []

    def voice_of(k):
        return dict(identity, speed=pace(k, args), spoken=engine.spoken(k))

    hashes = {k: phrase_hash(k, voice_of(k)) for k in keys}

    def raw_path(k):
        blob = json.dumps({"text": k, "voice": voice_of(k)}, sort_keys=True)
        return os.path.join(args.pcm_cache, "raw-" + hashlib.sha256(blob.encode()).hexdigest()[:24] + ".wav")

    def in_pack(k):
        """Whether the pack already holds phrase k as this build would
        render it: then it is not rendered again, even with no build cache
        (a fresh clone), unless its bank must be re-encoded."""
        p = old.get(("speech", k))
        return p is not None and p["hash"] == hashes[k] and looks_like_ogg(os.path.join(args.sounds, p["file"]))

    def needed(k):
        return args.force or not (in_pack(k) or os.path.exists(raw_path(k)))

    # what has to be rendered (a lower bound when a bank of clips already in
    # the pack must be re-encoded: those clips are rendered when it is)
    to_render = sum(1 for k in keys if needed(k))
    print(f"voice pack: {len(keys)} phrases, {to_render} to render with {identity['voice']}", file=sys.stderr)
    tty = sys.stderr.isatty()

    def report_progress():
        spent = time.time() - started
        left = max(to_render - rendered, 0) * spent / max(rendered, 1)
        line = f"voice pack: rendered {rendered} of {to_render} ({spent / 60:.1f} min, about {left / 60:.0f} min left)"
        if tty:
            print("\r" + line, end="\n" if rendered >= to_render else "", file=sys.stderr, flush=True)
        elif rendered % 10 == 0 or rendered == to_render:
            print(line, file=sys.stderr, flush=True)

    def raw_render(k):
        """The engine's output for phrase k, from the build cache or
        rendered now; the cache lets processing change without
        rendering again."""
        nonlocal rendered
        cached = raw_path(k)
        if os.path.exists(cached) and not args.force:
            try:
                a, rate = read_wav(cached)
                if len(a):
                    return a, rate
            except (OSError, ValueError, EOFError):
                pass
        audio, rate = engine.render(k, pace(k, args))
        write_wav(cached + ".tmp", audio, rate)
        os.replace(cached + ".tmp", cached)
        rendered += 1
        report_progress()
        return read_wav(cached)

    def clip_pcm(k):
        """The finished clip of phrase k at RATE, as 16-bit samples."""
        audio, rate = raw_render(k)
        audio = trim_silence(audio, rate)
        if len(audio) < rate // 50:
            raise SystemExit(f"voice pack: '{k}' rendered to silence")
        audio = fade(level(audio, rate), rate, FADE_IN_MS, FADE_OUT_MS)
        audio = to_rate(audio, rate)
        levels.append(loudness(audio, RATE))
        peaks.append(db(np.max(np.abs(audio))))
        return np.round(np.clip(audio, -1.0, 1.0) * 32767.0) / 32768.0

    # Render what is missing first, the most useful phrases first (words
    # and short numbers before "Session 27 of 30."), so that an interrupted
    # build has rendered what matters most and a re-run goes on from there;
    # in parallel, one single-threaded engine a worker.
    missing = [k for k in sorted(keys, key=priority) if needed(k)]
    if args.cached_only and missing:
        # a pack of what is rendered so far (to measure it, or to try it)
        print(f"voice pack: leaving out {len(missing)} phrases not rendered yet", file=sys.stderr)
        keys = [k for k in keys if k not in set(missing)]
        missing = []
    if missing:
        import multiprocessing

        jobs = [(k, pace(k, args), raw_path(k)) for k in missing]
        with multiprocessing.get_context("fork").Pool(max(1, args.jobs), initializer=worker_init, initargs=(args.kokoro, args.voice)) as pool:
            for _ in pool.imap_unordered(worker_render, jobs):
                rendered += 1
                report_progress()

    gap = np.zeros(int(BANK_GAP_S * RATE), dtype=np.float32)
    for name, members in banks_of(keys):
        rel = f"voice/banks/{name}.ogg"
        previous = [old.get(("speech", k)) for k in members]
        unchanged = (
            not args.force
            and all(p and p["file"] == rel and p["hash"] == hashes[k] for p, k in zip(previous, members))
            and [p["start"] for p in previous] == sorted(p["start"] for p in previous)
            and len({p["start"] for p in previous}) == len(previous)
            and looks_like_ogg(os.path.join(args.sounds, rel))
            and sum(1 for (kind, _), e in old.items() if kind == "speech" and e["file"] == rel) == len(members)
        )
        if unchanged:
            for k, p in zip(members, previous):
                rows.append(("speech", k, rel, p["start"], p["length"], p["duration_ms"], hashes[k]))
            kept += len(members)
            continue
        parts, offsets = [], []
        at = 0
        for i, k in enumerate(members):
            a = clip_pcm(k)
            if i:
                parts.append(gap)
                at += len(gap)
            offsets.append((k, at, len(a)))
            parts.append(a)
            at += len(a)
        samples = encode(np.concatenate(parts), RATE, os.path.join(args.sounds, rel))
        if samples != at:
            raise SystemExit(f"voice pack: {rel} holds {samples} samples, expected {at}")
        for k, start, length in offsets:
            rows.append(("speech", k, rel, start, length, duration_ms(length), hashes[k]))

    for name, (make, rel) in SOUNDS.items():
        h = hashlib.sha256(f"{name}:{PIPELINE}:{VORBIS_QUALITY}:{make.__doc__}".encode()).hexdigest()[:16]
        prev = old.get(("sound", name))
        if prev and prev["hash"] == h and looks_like_ogg(os.path.join(args.sounds, rel)):
            rows.append(("sound", name, rel, 0, prev["length"], prev["duration_ms"], h))
            continue
        samples = encode(make().astype(np.float32), RATE, os.path.join(args.sounds, rel))
        rows.append(("sound", name, rel, 0, samples, duration_ms(samples), h))

    # files no phrase refers to any more (and clips of older layouts)
    used = {r[2] for r in rows}
    removed = 0
    for sub in ("banks", "clips"):
        folder = os.path.join(voice_dir, sub)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if f"voice/{sub}/{name}" not in used:
                os.remove(os.path.join(folder, name))
                removed += 1
        if not os.listdir(folder):
            os.rmdir(folder)

    # the checksum of every file, so that a damaged one is refused whole
    # instead of yielding clips cut from shifted audio
    sums_path = os.path.join(voice_dir, "files.sha256")
    with open(sums_path + ".tmp", "w", encoding="utf-8") as f:
        f.write("# SHA-256 of every voice pack file, relative to sounds/; regenerate with scripts/build-voice-pack\n")
        for rel in sorted(used):
            with open(os.path.join(args.sounds, rel), "rb") as data:
                f.write(f"{hashlib.sha256(data.read()).hexdigest()}  {rel}\n")
    os.replace(sums_path + ".tmp", sums_path)

    tmp = index_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("# massage-cue voice pack index; regenerate with scripts/build-voice-pack\n")
        f.write(f"# engine: {json.dumps(identity, sort_keys=True)}; speed {args.speed}, "
                f"{args.long_speed} for phrases of {LONG_PHRASE_WORDS} words or more\n")
        f.write(f"# files: mono Ogg Vorbis at {RATE} Hz; a clip is `length` samples from sample `start`;\n")
        f.write("# duration_ms is its length in milliseconds, rounded up\n")
        f.write(INDEX_HEADER + "\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    os.replace(tmp, index_path)

    size = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(args.sounds) for fn in fns)
    speech_ms = sum(r[5] for r in rows if r[0] == "speech")
    files = len(used)
    print(f"voice pack: {len(rows)} clips in {files} files ({rendered} rendered, {kept} kept, {removed} files removed), "
          f"{speech_ms / 60000:.1f} min of speech, sounds/ is {size / 1e6:.2f} MB", file=sys.stderr)
    if levels:
        lv = np.array(levels)
        print(f"voice pack: processed clips: loudness {lv.min():.1f}..{lv.max():.1f} LUFS "
              f"(median {np.median(lv):.1f}, 90% within {np.percentile(lv, 5):.1f}..{np.percentile(lv, 95):.1f}), "
              f"peak max {max(peaks):.1f} dBFS", file=sys.stderr)


if __name__ == "__main__":
    main()
