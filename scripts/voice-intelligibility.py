#!/usr/bin/env python3
"""Intelligibility of massage-cue's voices: phrases are spoken by each voice
and transcribed by an independent speech recogniser (Whisper tiny.en, run
by faster-whisper), and the share heard right is reported.

A phrase is heard right when the transcript, normalised (lower case, digits
spelt out as words, "N.5" as "N and a half", punctuation dropped, "-metre" as "-meter"), equals the phrase normalised the
same way; spaces are ignored in the comparison, so "Shen Shu" counts for
"Shenshu". Voices:

  pack:DIR   the clips of a voice pack (sounds/ folder)
  espeak     espeak-ng as massage-cue's fallback command runs it

Run by scripts/voice-check, which installs what it needs.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell(n):
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + spell(rest))
    return str(n)


def normal(text):
    text = text.lower().replace("-", " ")
    text = re.sub(r"(\w)metre", r"\1meter", text)  # British and US spelling say the same
    text = re.sub(r"(\d+)\.5\b", r"\1 and a half", text)  # "1.5 minutes" / "1 and a half minutes"
    text = re.sub(r"\d+", lambda m: " " + spell(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = text.replace(" and ", " ")  # "one hundred and five" / "one hundred five"
    return "".join(text.split())


def read_index(sounds):
    out = {}
    with open(os.path.join(sounds, "voice", "index.tsv"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 7 and fields[0] == "speech":
                out[fields[1]] = (fields[2], int(fields[3]), int(fields[4]))
    return out


class Pack:
    def __init__(self, sounds):
        self.sounds = sounds
        self.index = read_index(sounds)
        self.decoded = {}

    def has(self, phrase):
        return phrase in self.index

    def audio(self, phrase):
        file, start, length = self.index[phrase]
        if file not in self.decoded:
            raw = subprocess.run(["sox", "-V1", os.path.join(self.sounds, file), "-t", "f32", "-c", "1", "-r", "16000", "-"],
                                 check=True, capture_output=True).stdout
            rate = int(subprocess.run(["soxi", "-r", os.path.join(self.sounds, file)], check=True, capture_output=True, text=True).stdout)
            self.decoded[file] = (np.frombuffer(raw, dtype=np.float32), rate)
        samples, rate = self.decoded[file]
        a, b = start * 16000 // rate, (start + length) * 16000 // rate
        return samples[a:b]


class Espeak:
    def has(self, phrase):
        return True

    def audio(self, phrase):
        with tempfile.TemporaryDirectory() as d:
            wav = os.path.join(d, "e.wav")
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, phrase], check=True)
            raw = subprocess.run(["sox", "-V1", wav, "-t", "f32", "-c", "1", "-r", "16000", "-"], check=True, capture_output=True).stdout
        return np.frombuffer(raw, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phrases", required=True, help="the phrases, one a line")
    ap.add_argument("--voice", action="append", required=True, help="NAME=pack:DIR or NAME=espeak")
    ap.add_argument("--model", required=True, help="the Whisper model folder (CTranslate2)")
    ap.add_argument("--sample", type=int, default=0, help="a random sample of this many phrases (0: all)")
    ap.add_argument("--always", action="append", default=[], help="phrases containing this are always in the sample")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    from faster_whisper import WhisperModel

    phrases = sorted({" ".join(l.split()) for l in open(args.phrases, encoding="utf-8") if l.strip()})
    voices = []
    for spec in args.voice:
        name, kind = spec.split("=", 1)
        voices.append((name, Espeak() if kind == "espeak" else Pack(kind.split(":", 1)[1])))
    # only phrases every voice can say, so that the shares compare
    common = [p for p in phrases if all(v.has(p) for _, v in voices)]
    chosen = common
    if args.sample and args.sample < len(common):
        fixed = [p for p in common if any(w.lower() in p.lower() for w in args.always)]
        rest = [p for p in common if p not in fixed]
        chosen = sorted(fixed + random.Random(args.seed).sample(rest, max(0, args.sample - len(fixed))))
    model = WhisperModel(args.model, device="cpu", compute_type="int8", cpu_threads=1)
    results = {"phrases": len(phrases), "common": len(common), "checked": len(chosen), "seed": args.seed, "voices": {}}
    for name, voice in voices:
        started = time.time()
        wrong = []
        for i, phrase in enumerate(chosen):
            audio = voice.audio(phrase)
            # a little silence around the clip, as the recogniser expects
            pad = np.zeros(4000, dtype=np.float32)
            segments, _ = model.transcribe(np.concatenate([pad, audio, pad]), language="en", beam_size=1,
                                           condition_on_previous_text=False, vad_filter=False)
            heard = " ".join(s.text.strip() for s in segments).strip()
            if normal(heard) != normal(phrase):
                wrong.append({"phrase": phrase, "heard": heard})
            if (i + 1) % 25 == 0:
                print(f"{name}: {i + 1}/{len(chosen)}", file=sys.stderr, flush=True)
        right = len(chosen) - len(wrong)
        results["voices"][name] = {"right": right, "share": right / max(1, len(chosen)), "misheard": wrong,
                                   "seconds": round(time.time() - started)}
        print(f"{name}: {right}/{len(chosen)} heard right ({100 * right / max(1, len(chosen)):.1f} %)", file=sys.stderr)
        for w in wrong:
            print(f"    {w['phrase']!r} heard as {w['heard']!r}", file=sys.stderr)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
