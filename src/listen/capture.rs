//! The microphone: a recording stream from the sound server, through
//! `parec` (Debian `pulseaudio-utils`; PipeWire desktops serve it through
//! pipewire-pulse), as 16 kHz mono 16-bit samples on a pipe. The audio
//! goes from the pipe to the recogniser in memory; nothing is written
//! anywhere.

use std::io::{self, Read};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

use super::RATE;

/// How much audio the sound server hands over at once, in ms: small, so
/// that a command is acted on soon after it is said.
const LATENCY_MS: u32 = 30;

/// A recording stream from the sound server.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    out: ChildStdout,
    err: Option<ChildStderr>,
    /// A byte of a sample split between two reads.
    odd: Option<u8>,
    bytes: Vec<u8>,
}

impl Capture {
    /// Records from `source`, or from the sound server's default source.
    pub fn open(source: Option<&str>) -> io::Result<Capture> {
        let mut command = Command::new("parec");
        command.args([
            "--raw",
            "--format=s16le",
            &format!("--rate={RATE}"),
            "--channels=1",
            &format!("--latency-msec={LATENCY_MS}"),
            "--client-name=massage-cue",
            "--stream-name=voice commands",
        ]);
        if let Some(source) = source {
            command.arg(format!("--device={source}"));
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| match err.kind() {
                io::ErrorKind::NotFound => io::Error::new(
                    io::ErrorKind::NotFound,
                    "`parec` is not installed (Debian package pulseaudio-utils)",
                ),
                _ => io::Error::new(err.kind(), format!("cannot run parec: {err}")),
            })?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no pipe"))?;
        let err = child.stderr.take();
        Ok(Capture {
            child,
            out,
            err,
            odd: None,
            bytes: vec![0; (RATE as usize / 1000) * LATENCY_MS as usize * 2],
        })
    }

    /// The next samples, as they come (blocks until some do). An error
    /// when the stream ended: the microphone or the sound server went
    /// away; the error says why when the server said.
    pub fn read(&mut self, samples: &mut Vec<i16>) -> io::Result<()> {
        samples.clear();
        let n = loop {
            match self.out.read(&mut self.bytes) {
                Ok(0) => return Err(self.ended()),
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        };
        let mut bytes = &self.bytes[..n];
        if let Some(low) = self.odd.take()
            && let Some((&high, rest)) = bytes.split_first()
        {
            samples.push(i16::from_le_bytes([low, high]));
            bytes = rest;
        }
        let mut pairs = bytes.chunks_exact(2);
        samples.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.odd = pairs.remainder().first().copied();
        Ok(())
    }

    /// Why the stream ended, from what the sound server said.
    fn ended(&mut self) -> io::Error {
        let _ = self.child.wait();
        let mut said = String::new();
        if let Some(mut err) = self.err.take() {
            let _ = err.read_to_string(&mut said);
        }
        let said = said.lines().last().unwrap_or("").trim().to_owned();
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            if said.is_empty() {
                "the recording stream ended".to_owned()
            } else {
                format!("the recording stream ended: {said}")
            },
        )
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
