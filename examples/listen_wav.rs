//! Feeds WAV files to the recogniser the daemon listens with
//! (`massage_cue::listen::recogniser`), faster than real time, in the
//! pieces the daemon's recording stream hands over; `scripts/bench-listen`
//! runs it.
//!
//! ```text
//! listen_wav [--wake WORD] FILE...
//! ```
//!
//! The files (16 kHz, mono, 16-bit, as the daemon records) are heard one
//! after the other as one stream, each followed by a second of silence so
//! that its last stretch of speech ends. One JSON line per file on stdout:
//!
//! ```text
//! {"file": "...", "seconds": 2.3, "heard": [{"said": "pause", "at_s": 1.9}]}
//! ```
//!
//! `said` is the command's words after the wake word ("more time"), or
//! "bare stop"; `at_s` is where in the file the stretch of speech it was
//! heard in ended (its end and the silence that ended it), so past the end
//! of the file when the speech ran to it. A last line gives the audio's
//! length and the time the recogniser took to hear it:
//! `{"audio_s": ..., "wall_s": ...}`.

#[cfg(feature = "listen")]
fn main() {
    if let Err(err) = run() {
        eprintln!("listen_wav: {err}");
        std::process::exit(2);
    }
}

#[cfg(not(feature = "listen"))]
fn main() {
    eprintln!("listen_wav: this build has no recogniser (the `listen` feature)");
    std::process::exit(2);
}

#[cfg(feature = "listen")]
fn run() -> Result<(), String> {
    use massage_cue::listen::recogniser::Recogniser;
    use massage_cue::listen::{DEFAULT_WAKE_WORD, Heard, RATE};
    use serde_json::json;

    /// As the daemon's recording stream hands audio over (capture.rs).
    const PIECE: usize = RATE as usize * 30 / 1000;

    let mut wake = DEFAULT_WAKE_WORD.to_owned();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--wake" => wake = args.next().ok_or("--wake needs a word")?,
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        return Err("usage: listen_wav [--wake WORD] FILE...".into());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut recogniser = Recogniser::new(&wake).map_err(|e| e.to_string())?;
    let began = std::time::Instant::now();
    let mut audio_samples = 0u64;
    let silence = vec![0i16; RATE as usize];
    for file in &files {
        let samples = read(file)?;
        let start = recogniser.samples();
        let mut heard = Vec::new();
        for piece in samples.chunks(PIECE).chain(silence.chunks(PIECE)) {
            if let Some(detection) = recogniser.feed(piece).map_err(|e| e.to_string())? {
                let said = match detection.heard {
                    Heard::Command(command) => command.words(),
                    Heard::BareStop => "bare stop",
                };
                let at = (detection.at_sample - start) as f64 / f64::from(RATE);
                heard.push(json!({"said": said, "at_s": (at * 1000.0).round() / 1000.0}));
            }
        }
        audio_samples += (samples.len() + silence.len()) as u64;
        let seconds = samples.len() as f64 / f64::from(RATE);
        println!(
            "{}",
            json!({"file": file, "seconds": seconds, "heard": heard})
        );
    }
    println!(
        "{}",
        json!({
            "audio_s": audio_samples as f64 / f64::from(RATE),
            "wall_s": began.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

/// A WAV file's samples, which must be 16 kHz mono 16-bit.
#[cfg(feature = "listen")]
fn read(file: &str) -> Result<Vec<i16>, String> {
    let reader = hound::WavReader::open(file).map_err(|e| format!("{file}: {e}"))?;
    let spec = reader.spec();
    if spec.sample_rate != massage_cue::listen::RATE
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "{file}: {} Hz, {} channels, {} bits: 16000 Hz mono 16-bit is needed",
            spec.sample_rate, spec.channels, spec.bits_per_sample
        ));
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{file}: {e}"))
}
