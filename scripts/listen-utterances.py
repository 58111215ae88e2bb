#!/usr/bin/env python3
"""Spoken commands for testing and measuring the recogniser, generated with
the Kokoro voice that scripts/install-voice installs (never recorded by hand).

Run with the Python of the install (it has the engine):

    KOKORO=${XDG_DATA_HOME:-~/.local/share}/massage-cue/kokoro
    $KOKORO/venv/bin/python scripts/listen-utterances.py --kokoro $KOKORO \\
        --out CACHE_DIR < jobs.jsonl

One job a line on standard input, a JSON object:

    {"text": "massage pause", "voice": "af_heart", "speed": 1.0,
     "noise": null | "music" | "speech", "snr_db": 10, "seed": 1}

and one JSON answer a line on standard output, in the same order:

    {"out": "CACHE_DIR/3f2a....wav", "speech_start_s": 0.5,
     "speech_end_s": 1.62, "seconds": 2.42, "cached": true}

Each utterance is a 16 kHz mono 16-bit WAV (the recogniser's rate): 0.5 s
of lead, the speech at about -20 dBFS RMS, then 0.8 s of tail. With
"noise", music (synthesised here: soft piano-like notes over a pad, seeded)
or another person talking (Kokoro's bf_emma reading what a therapist says
to a client, none of it a command word) sounds through the whole file,
`snr_db` below the speech's power over the speech. The file's name is a
hash of the job and of this generator's version, so a cache folder can be
kept between runs: a job already there is not rendered again.

`--noise-only SECONDS` writes instead one file of that many seconds of
noise of the kind `--noise` names (music or speech), for measuring false
alarms; the answer gives its path.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import wave

# changes whenever what is written for a job changes, so a cache of older
# files is not used
VERSION = 1
RATE = 16000
LEAD_S = 0.5
TAIL_S = 0.8
SPEECH_DBFS = -20.0
TALKER = "bf_emma"
# What a therapist says to a client while working: read as background
# speech. No wake word and no command word in it.
TALK = [
    "Tell me if the pressure is too firm or too light.",
    "Breathe in slowly, and let your shoulders drop as you breathe out.",
    "This area is often tight in people who sit at a desk all day.",
    "Your neck feels a little stiff on the left side today.",
    "I am going to work along the muscle towards the shoulder blade.",
    "Let your arm rest heavy on the table, I will hold it for you.",
    "How did you sleep this week, and did the exercises help?",
    "Many people carry tension in the jaw without noticing it.",
    "We will finish with some gentle work on the feet.",
    "That knot has softened a lot since the last visit.",
    "Keep your knees bent if your lower back feels sore.",
    "The oil is warm, it may feel a bit cool at first anyway.",
]


def log(*args):
    print("listen-utterances:", *args, file=sys.stderr, flush=True)


class Engine:
    """Kokoro, loaded on first use with every voice asked for so far."""

    def __init__(self, kokoro_dir):
        self.dir = kokoro_dir
        self.kokoro = None
        self.voices = set()
        sys.path.insert(0, kokoro_dir)

    def speak(self, text, voice, speed):
        import numpy as np
        import speak

        if self.kokoro is None or voice not in self.voices:
            self.voices |= {voice, "af_heart"}
            self.kokoro = speak.load(self.dir, sorted(self.voices))
        audio, rate = speak.render(self.kokoro, text, voice, float(speed))
        return resample(np.asarray(audio, dtype=np.float64), rate, RATE)


def resample(x, rate_in, rate_out):
    """Band-limited resampling of a whole clip, through its spectrum."""
    import numpy as np

    if rate_in == rate_out or len(x) == 0:
        return x
    n_out = int(round(len(x) * rate_out / rate_in))
    spectrum = np.fft.rfft(x)
    keep = n_out // 2 + 1
    if keep <= len(spectrum):
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(keep - len(spectrum), complex)])
    return np.fft.irfft(spectrum, n_out) * (n_out / len(x))


def rms(x):
    import numpy as np

    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def music(seconds, seed):
    """Soft music: piano-like notes of a pentatonic scale, two or three a
    beat at 84 bpm, over a slow pad; the same for the same seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    out = np.zeros(n + RATE * 4)
    t = np.arange(int(RATE * 2.5)) / RATE
    scale = [0, 2, 4, 7, 9, 12, 14, 16, 19, 21]
    root = 57 + int(rng.integers(0, 5))  # A3 .. C#4
    beat = 60.0 / 84
    at = 0.0
    while at < seconds + 1:
        for _ in range(int(rng.integers(1, 4))):
            f = 440.0 * 2 ** ((root + scale[int(rng.integers(0, len(scale)))] - 69) / 12)
            note = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for k in (1, 2, 3, 4))
            note *= np.exp(-t * (2.0 + rng.random())) * (1 - np.exp(-t * 400))
            start = int((at + rng.random() * 0.03) * RATE)
            out[start : start + len(t)] += note * (0.5 + 0.5 * rng.random())
        at += beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
    tt = np.arange(len(out)) / RATE
    for k, semis in enumerate((-12, -5, 0, 4)):
        f = 440.0 * 2 ** ((root + semis - 69) / 12)
        out += 0.25 * np.sin(2 * np.pi * f * tt + k) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * tt + k))
    return out[:n]


def talk(engine, cache, seconds, seed):
    """`seconds` of someone talking, from a reading rendered once and kept
    in the cache folder; where in it depends on the seed."""
    import numpy as np

    path = os.path.join(cache, f"talk-v{VERSION}-{TALKER}.wav")
    if os.path.exists(path):
        reading = read_wav(path)
    else:
        log(f"rendering the background talk ({len(TALK)} sentences, {TALKER})")
        parts = []
        for i, sentence in enumerate(TALK):
            parts.append(engine.speak(sentence, TALKER, 0.95 + 0.05 * (i % 3)))
            parts.append(np.zeros(int(RATE * (0.25 + 0.1 * (i % 4)))))
        reading = np.concatenate(parts)
        write_wav(path, reading)
    n = int(seconds * RATE)
    while len(reading) < n + 1:
        reading = np.concatenate([reading, reading])
    start = int(np.random.default_rng(seed).integers(0, len(reading) - n))
    return reading[start : start + n]


def noise(kind, engine, cache, seconds, seed):
    if kind == "music":
        return music(seconds, seed)
    if kind == "speech":
        return talk(engine, cache, seconds, seed)
    raise ValueError(f"unknown noise {kind!r} (music or speech)")


def read_wav(path):
    import numpy as np

    with wave.open(path, "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0


def write_wav(path, x):
    import numpy as np

    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2")
    tmp = f"{path}.{os.getpid()}.part"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def utterance(job, engine, cache):
    """The job's file, rendered unless the cache has it; its answer."""
    import numpy as np

    text = " ".join(str(job["text"]).split())
    if not text:
        raise ValueError("no text")
    voice = str(job.get("voice", "af_heart"))
    speed = float(job.get("speed", 1.0))
    kind = job.get("noise")
    snr_db = float(job.get("snr_db", 10.0))
    seed = int(job.get("seed", 0))
    key = json.dumps([VERSION, text, voice, speed, kind, snr_db if kind else None, seed if kind else None])
    name = hashlib.sha256(key.encode()).hexdigest()[:20]
    path = os.path.join(cache, name + ".wav")
    meta = path[:-4] + ".json"
    if os.path.exists(path) and os.path.exists(meta):
        with open(meta) as f:
            answer = json.load(f)
        answer.update(out=path, cached=True)
        return answer
    speech = engine.speak(text, voice, speed)
    if rms(speech) == 0:
        raise ValueError(f"the voice said nothing for {text!r}")
    speech *= 10 ** (SPEECH_DBFS / 20) / rms(speech)
    lead, tail = int(LEAD_S * RATE), int(TAIL_S * RATE)
    mix = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    if kind:
        background = noise(kind, engine, cache, len(mix) / RATE, seed)
        over_speech = background[lead : lead + len(speech)]
        gain = rms(speech) / (max(rms(over_speech), 1e-9) * 10 ** (snr_db / 20))
        background = background * gain
        fade = int(0.05 * RATE)
        background[:fade] *= np.linspace(0, 1, fade)
        background[-fade:] *= np.linspace(1, 0, fade)
        mix = mix + background
    peak = float(np.max(np.abs(mix)))
    if peak > 0.95:
        mix *= 0.95 / peak
    write_wav(path, mix)
    answer = {
        "speech_start_s": LEAD_S,
        "speech_end_s": round(LEAD_S + len(speech) / RATE, 4),
        "seconds": round(len(mix) / RATE, 4),
    }
    with open(meta + ".part", "w") as f:
        json.dump(answer, f)
    os.replace(meta + ".part", meta)
    answer.update(out=path, cached=False)
    return answer


def noise_only(kind, seconds, seed, engine, cache):
    """A file of noise alone, `seconds` long, at the speech level."""
    name = f"noise-v{VERSION}-{kind}-{seconds:g}s-{seed}.wav"
    path = os.path.join(cache, name)
    if not os.path.exists(path):
        x = noise(kind, engine, cache, seconds, seed)
        x *= 10 ** (SPEECH_DBFS / 20) / max(rms(x), 1e-9)
        write_wav(path, x)
    return {"out": path, "seconds": seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kokoro", required=True, help="the folder scripts/install-voice installed Kokoro in")
    ap.add_argument("--out", required=True, help="the cache folder the files go to")
    ap.add_argument("--noise-only", type=float, metavar="SECONDS")
    ap.add_argument("--noise", choices=["music", "speech"], default="music")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.kokoro, "speak.py")):
        print(f"listen-utterances: no Kokoro install in {args.kokoro} (run scripts/install-voice)", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    engine = Engine(args.kokoro)
    if args.noise_only is not None:
        if not 0 < args.noise_only <= 4 * 3600 or math.isnan(args.noise_only):
            print("listen-utterances: --noise-only takes 0 to 14400 seconds", file=sys.stderr)
            return 2
        print(json.dumps(noise_only(args.noise, args.noise_only, args.seed, engine, args.out)), flush=True)
        return 0
    failed = 0
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            answer = utterance(json.loads(line), engine, args.out)
        except (ValueError, KeyError, TypeError) as err:
            print(f"listen-utterances: job {n}: {err}", file=sys.stderr)
            answer = {"error": str(err)}
            failed += 1
        print(json.dumps(answer), flush=True)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
