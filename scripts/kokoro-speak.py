#!/usr/bin/env python3
"""Speaks phrases with the Kokoro-82M voice installed by scripts/install-voice.

One phrase (read from standard input, or --text) to one WAV file:

    speak.py --voice af_heart --speed 1.0 --out phrase.wav

Many phrases with the model loaded once (--serve): one JSON object a line on
standard input, {"text": ..., "out": ..., "speed": ...}; one JSON answer a
line on standard output, {"ok": true, "out": ..., "ms": ...} or
{"ok": false, "error": ...}. The first line written is {"ready": true} once
the model is loaded.

The output is mono 16-bit WAV at the model's rate (24000 Hz), with the
engine's own silence trimmed; massage-cue levels and resamples it.
"""

import argparse
import json
import os
import re
import sys
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = "kokoro-v1.0.int8.onnx"
SPEED_MIN, SPEED_MAX = 0.5, 2.0
SENTENCE_PAUSE_S = 0.45

# Words the voice says wrongly as written, and a spelling it reads as
# intended: the acupoint names, in pinyin, which the English phonemizer reads
# as English ("Dazhui" as "da-zhu-ee", "Huantiao" as "hew-an-shee-ow"). Each
# spelling was chosen by the phonemes it gives (see sounds/README.md); a
# hyphen before a consonant pair the phonemizer cannot start a word with
# makes it spell the letters out ("Hwan" as "aitch-wan"), so those are
# written whole.
RESPELL = {
    "Mingmen": "Ming-men",  # mɪŋ mɛn
    "Shenshu": "Shen-shoo",  # ʃɛn ʃuː
    "Jianjing": "Jen-jing",  # dʒɛn dʒɪŋ (as written: "jai-en-jing")
    "Dazhui": "Dahjway",  # dɑːdʒweɪ
    "Dachangshu": "Dah-chahng-shoo",  # dɑː tʃɑːŋ ʃuː
    "Huantiao": "Whahn-tee-ao",  # wɑːn tiː aʊ
    "Chengfu": "Cheng-foo",  # tʃɛŋ fuː (as written: "cheng-g-foo")
}


def respelled(text):
    """The text as the voice should read it."""
    for word, spoken in RESPELL.items():
        text = re.sub(rf"\b{re.escape(word)}\b", spoken, text)
    return text


def load(folder, voice_names, threads=0):
    """The engine with these voices; `threads` 0 lets onnxruntime choose."""
    import numpy as np
    from kokoro_onnx import Kokoro

    styles = {}
    for name in voice_names:
        path = os.path.join(folder, "voices", name + ".bin")
        if not os.path.exists(path):
            raise SystemExit(f"speak.py: no voice {name!r} in {os.path.join(folder, 'voices')}")
        styles[name] = np.fromfile(path, dtype=np.float32).reshape(-1, 1, 256)
    npz = os.path.join(folder, "voices.npz")
    # kokoro-onnx reads its voices from one numpy archive
    if not os.path.exists(npz) or any(n not in np.load(npz).files for n in voice_names):
        tmp = npz + f".{os.getpid()}.tmp.npz"
        np.savez(tmp, **styles)
        os.replace(tmp, npz)
    return Kokoro.from_session(session(os.path.join(folder, MODEL), threads), npz)


def session(model, threads):
    """The model's onnxruntime session. Its threads do not spin while they
    wait: on a busy machine spinning costs more than it saves."""
    import onnxruntime as rt

    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return rt.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def render(kokoro, text, voice, speed):
    audio, rate = kokoro.create(respelled(text), voice=voice, speed=speed, sentence_pause=SENTENCE_PAUSE_S)
    return audio, rate


def write_wav(path, audio, rate):
    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    tmp = path + ".part"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def check_speed(speed):
    if not SPEED_MIN <= speed <= SPEED_MAX:
        raise ValueError(f"speed {speed} is outside {SPEED_MIN}..{SPEED_MAX}")
    return speed


def serve(kokoro, voice, speed):
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        started = time.monotonic()
        try:
            job = json.loads(line)
            audio, rate = render(kokoro, job["text"], job.get("voice", voice), check_speed(float(job.get("speed", speed))))
            write_wav(job["out"], audio, rate)
            answer = {"ok": True, "out": job["out"], "ms": round((time.monotonic() - started) * 1000)}
        except Exception as err:  # one bad phrase must not end the others
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        print(json.dumps(answer), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=HERE, help="the install folder (default: this file's)")
    ap.add_argument("--voice", default="af_heart")
    ap.add_argument("--speed", type=float, default=1.0, help=f"{SPEED_MIN}..{SPEED_MAX}; above 1 is faster")
    ap.add_argument("--text", help="the phrase (default: standard input)")
    ap.add_argument("--out", help="the WAV file to write")
    ap.add_argument("--serve", action="store_true", help="many phrases, one JSON line each")
    args = ap.parse_args()
    try:
        check_speed(args.speed)
    except ValueError as err:
        print(f"speak.py: {err}", file=sys.stderr)
        return 2
    if not args.serve and not args.out:
        print("speak.py: --out is needed (or --serve)", file=sys.stderr)
        return 2
    kokoro = load(args.dir, [args.voice])
    if args.serve:
        serve(kokoro, args.voice, args.speed)
        return 0
    text = args.text if args.text is not None else sys.stdin.read()
    text = " ".join(text.split())
    if not text:
        print("speak.py: no text to speak", file=sys.stderr)
        return 2
    audio, rate = render(kokoro, text, args.voice, args.speed)
    write_wav(args.out, audio, rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
