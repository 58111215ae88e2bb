//! The output device, opened once per session.
//!
//! # Putting clips on the right sample
//!
//! The device asks for audio a buffer at a time and keeps some queued. A
//! clip handed to a mixer would start wherever the next buffer happens to
//! begin, so its onset would wander by up to a buffer. Instead, every time
//! the device asks for a buffer, the stream notes which frame comes next
//! and when the device says that frame will play; from that it keeps an
//! anchor, the instant frame 0 plays. Every frame `f` then plays at
//! `anchor + f / rate` (plus whatever fixed latency lies beyond the
//! device's own report), and a clip due at `t` is placed on frame
//! `(t + start_delay - anchor) × rate`: the same delay for every clip, so
//! cue spacing is kept to the sample.
//!
//! The anchor is the median of the estimates from the last second or so of
//! buffers: a buffer whose report is thrown off (the callback thread was
//! preempted between the device's report and reading the clock) is
//! outvoted, while a real change (the stream slipping after an underrun, a
//! device clock that runs a little fast or slow) is followed within half a
//! second.
//!
//! # After a stall
//!
//! When the device has not asked for audio for a while (the process was
//! stopped or starved, the machine was swapping, the sound server stood
//! still) the stream picks up later than its frames say: the anchor is
//! started afresh from the first buffer after the gap ([`REANCHOR_GAP`]),
//! so that the clips placed from then on sound on time. A clip whose start
//! would now come more than [`STALE_AFTER`] ms after its due time is
//! dropped unheard, and one cut off by the stall is not carried on after
//! it: a stall never makes a cue sound late.
//!
//! # Priority
//!
//! On a busy machine a sound thread that waits for the processor lets the
//! device run dry, and every cue after it sounds late. The threads that
//! opening the stream starts (this module's own, the audio library's and
//! the sound-server client's) are given a higher priority, a niceness of
//! [`SOUND_THREAD_NICE`], where the system allows it (root, or a
//! `RLIMIT_NICE` that permits it); elsewhere they keep the normal one.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rodio::Source;
use rodio::cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rodio::cpal::{self, FromSample, SampleFormat, SizedSample};
use rodio::mixer::{Mixer, MixerSource};

use super::{AudioError, CueSink};
use crate::clip::Clip;
use crate::session::STALE_AFTER;

/// The niceness the sound threads are given when the system allows it
/// (the normal one is 0; lower runs first).
pub const SOUND_THREAD_NICE: i32 = -11;

/// How long [`AudioOut::open`] waits for the device to start asking for
/// audio. Sound servers take one to two seconds to open a stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the device is watched once it asks for audio, to learn how far
/// ahead of playback it queues.
const WARM_UP: Duration = Duration::from_millis(300);

/// The device buffer asked for: short, so that `silence` takes effect
/// soon, yet long enough not to run dry on a busy machine.
const BUFFER: Duration = Duration::from_millis(15);

/// How many recent buffers the anchor is the median of.
const ANCHOR_WINDOW: usize = 63;

/// Margin over the deepest queue seen during warm-up.
const DELAY_MARGIN: Duration = Duration::from_millis(10);

/// No anchor yet.
const UNKNOWN: i64 = i64::MIN;

/// After the first output error, the next is logged no sooner than this
/// (with how many there were between): backends report the same error
/// thousands of times a second.
const ERROR_LOG_GAP: Duration = Duration::from_secs(60);

/// A device that has not asked for audio for this long has stood still:
/// the stream's anchor is started afresh (see the module documentation).
/// Between buffers the device is normally silent for one buffer's length.
const REANCHOR_GAP: Duration = Duration::from_millis(100);

/// A device that has not asked for audio for this long is gone (the sound
/// server quit, the device was unplugged). Counting errors cannot tell:
/// the ALSA plugin for PulseAudio reports thousands of I/O errors a second
/// from a healthy stream.
const STALLED: Duration = Duration::from_secs(2);

/// The default output device, kept open for a whole session.
///
/// The device is opened on a thread of its own (some backends' streams
/// cannot move between threads), so `AudioOut` itself is `Send + Sync` and
/// a session task on any runtime can own it. Dropping it closes the device.
///
/// Every clip sounds exactly [`start_delay`](AudioOut::start_delay) after
/// it was due (see the module documentation), so the spacing of cues is
/// kept to the sample however the device buffers.
pub struct AudioOut {
    mixer: Mixer,
    clock: Arc<StreamClock>,
    /// Bumped by [`silence`](CueSink::silence): clips started under an older
    /// value stop at their next sample.
    epoch: Arc<AtomicU64>,
    /// Clips handed over and not finished.
    sounding: Arc<AtomicUsize>,
    /// Beds (music) handed over and not finished.
    beds: Arc<AtomicUsize>,
    start_delay: Duration,
    channels: u16,
    rate: u32,
    close: Option<mpsc::Sender<()>>,
    device_thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for AudioOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioOut")
            .field("channels", &self.channels)
            .field("rate", &self.rate)
            .field("start_delay", &self.start_delay)
            .field("sounding", &self.sounding.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What an output's device has done so far ([`AudioOut::health`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    /// Buffers the device has asked for: this grows for as long as it
    /// plays, sound or silence.
    pub pulls: u64,
    /// How many times the device stood still and picked up again, the
    /// stream's timing started afresh.
    pub reanchored: u64,
    /// Clips dropped unheard because they would have started more than
    /// [`STALE_AFTER`] ms late, or were cut off by a stall.
    pub dropped_late: u64,
    /// The device said it went away, or its thread ended.
    pub gone: bool,
}

/// What the device thread hands back once the stream is open.
struct Opened {
    mixer: Mixer,
    clock: Arc<StreamClock>,
    channels: u16,
    rate: u32,
}

impl AudioOut {
    /// Opens the default output device and returns once it is asking for
    /// audio steadily, so the first clip played sounds on time. Blocks for
    /// as long as the sound server takes to open a stream (1–2 s is
    /// common): call it once per session, from a blocking context.
    ///
    /// Fails with [`AudioError::DeviceNotAvailable`] when there is no device
    /// at all (no sound card and no sound server).
    pub fn open() -> Result<AudioOut, AudioError> {
        Self::open_with_timeout(OPEN_TIMEOUT)
    }

    /// [`open`](Self::open), failing with [`AudioError::NotStarted`] if the
    /// device has not asked for audio within `timeout`.
    pub fn open_with_timeout(timeout: Duration) -> Result<AudioOut, AudioError> {
        let threads_before = threads();
        let (opened_tx, opened_rx) = mpsc::channel();
        let (close_tx, close_rx) = mpsc::channel::<()>();
        let device_thread = std::thread::Builder::new()
            .name("audio-out".into())
            .spawn(move || match open_stream() {
                Err(err) => {
                    let _ = opened_tx.send(Err(err));
                }
                Ok((stream, opened)) => {
                    let _ = opened_tx.send(Ok(opened));
                    // keep the stream open until the AudioOut is dropped
                    let _ = close_rx.recv();
                    drop(stream);
                }
            })
            .map_err(|err| AudioError::Open {
                detail: format!("could not start the audio thread: {err}"),
            })?;
        // never waits longer than `timeout`: a sound server that hangs
        // leaves the thread behind, which closes the stream if it opens
        let started = Instant::now();
        let opened = opened_rx.recv_timeout(timeout).map_err(|err| match err {
            mpsc::RecvTimeoutError::Timeout => AudioError::NotStarted(timeout),
            mpsc::RecvTimeoutError::Disconnected => AudioError::Open {
                detail: "the audio thread ended while opening the device".into(),
            },
        })??;

        let mut out = AudioOut {
            mixer: opened.mixer,
            clock: opened.clock,
            epoch: Arc::new(AtomicU64::new(0)),
            sounding: Arc::new(AtomicUsize::new(0)),
            beds: Arc::new(AtomicUsize::new(0)),
            start_delay: Duration::ZERO,
            channels: opened.channels,
            rate: opened.rate,
            close: Some(close_tx),
            device_thread: Some(device_thread),
        };
        out.warm_up(timeout.saturating_sub(started.elapsed()))?;
        raise_sound_threads(&threads_before);
        tracing::debug!(?out, "audio output open");
        Ok(out)
    }

    /// How long after it was due every clip sounds (plus whatever fixed
    /// latency lies beyond what the device reports): the deepest the device
    /// was seen to queue audio, plus a margin.
    pub fn start_delay(&self) -> Duration {
        self.start_delay
    }

    /// The device stream's sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The device stream's channel count (clips are mono and go to all).
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// What the device has done so far, for a watch that tells a stream
    /// which stopped from a process that did not run.
    pub fn health(&self) -> Health {
        Health {
            pulls: self.clock.pulls.load(Ordering::Acquire),
            reanchored: self.clock.reanchored.load(Ordering::Acquire),
            dropped_late: self.clock.dropped_late.load(Ordering::Acquire),
            gone: self.device_gone(),
        }
    }

    /// How many clips are sounding or waiting for their first sample.
    pub fn sounding(&self) -> usize {
        self.sounding.load(Ordering::Acquire)
    }

    /// Blocks until no clip (nor bed: see
    /// [`play_source_at`](Self::play_source_at)) is sounding and the device has had time to play
    /// out what it queued, or until `timeout`. Returns whether it went quiet
    /// in time. For one-off playback such as [`say`], and for a finished
    /// session's last clips.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.sounding() > 0 || self.beds.load(Ordering::Acquire) > 0 {
            if Instant::now() >= deadline || self.is_closed() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // the last samples are still queued: at most a start delay's worth,
        // plus what the sound server holds beyond the device's report
        let queued = self.start_delay + Duration::from_millis(200);
        std::thread::sleep(queued.min(deadline.saturating_duration_since(Instant::now())));
        true
    }

    /// Whether the output can no longer play: the device went away (it
    /// said so, or it stopped asking for audio), or its thread ended.
    fn is_closed(&self) -> bool {
        self.clock.stalled() || self.device_gone()
    }

    /// Whether the device said it went away, or its thread ended. (While
    /// a stream opens, the device may pause for a second or two after its
    /// first buffers: that is no stall.)
    fn device_gone(&self) -> bool {
        self.clock.lost.load(Ordering::Acquire)
            || self
                .device_thread
                .as_ref()
                .is_none_or(|thread| thread.is_finished())
    }

    /// Waits until the device asks for audio, then watches it for a while
    /// to learn how deep it queues, which sets the start delay.
    fn warm_up(&mut self, timeout: Duration) -> Result<(), AudioError> {
        let deadline = Instant::now() + timeout;
        // the first buffers are taken at once to fill the queue: wait for
        // the device to take them at its own pace
        while self.clock.pulls.load(Ordering::Acquire) < 4 {
            if self.device_gone() {
                return Err(AudioError::Closed);
            }
            if Instant::now() >= deadline {
                return Err(AudioError::NotStarted(timeout));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.clock.max_ahead_ns.store(0, Ordering::Release);
        std::thread::sleep(WARM_UP);
        let queued =
            Duration::from_nanos(self.clock.max_ahead_ns.load(Ordering::Acquire).max(0) as u64);
        self.start_delay = queued.max(BUFFER) + DELAY_MARGIN;
        Ok(())
    }

    /// The stream frame on which a clip due at `due` starts.
    fn frame_for(&self, due: Instant) -> u64 {
        self.clock
            .frame_at(signed_ns(self.clock.base, due + self.start_delay))
            .unwrap_or(0)
    }
}

impl CueSink for AudioOut {
    fn play_at(&mut self, clip: &Clip, due: tokio::time::Instant) -> Result<(), AudioError> {
        let rate = NonZeroU32::new(clip.rate).ok_or(AudioError::ZeroRate)?;
        // a device that has not asked for audio for a while is not judged
        // here: after the process itself stood still, it has not had the
        // chance yet (the session's watch tells the two apart)
        if self.device_gone() {
            return Err(AudioError::Closed);
        }
        let start_frame = self.frame_for(due.into_std());
        let due_ns = signed_ns(self.clock.base, due.into_std() + self.start_delay);
        self.sounding.fetch_add(1, Ordering::AcqRel);
        self.mixer.add(ScheduledClip {
            samples: Arc::clone(&clip.samples),
            pos: 0,
            rate,
            start_frame,
            due_ns,
            placed_in: self.clock.reanchored.load(Ordering::Acquire),
            started_in: None,
            dropped: false,
            clock: Arc::clone(&self.clock),
            epoch: self.epoch.load(Ordering::Acquire),
            current_epoch: Arc::clone(&self.epoch),
            sounding: Arc::clone(&self.sounding),
        });
        Ok(())
    }

    fn silence(&mut self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

impl AudioOut {
    /// Starts `source`, at this output's [`rate`](Self::rate) and
    /// [`channels`](Self::channels) (interleaved), on the frame of `due`
    /// (as a clip due then would start), mixed with the clips until it
    /// ends. [`silence`](CueSink::silence) does not stop it: it is for a
    /// bed under the cues that keeps its own time, such as music, and ends
    /// by itself; [`drain`](Self::drain) waits for it, but it is not
    /// counted in [`sounding`](Self::sounding).
    pub fn play_source_at<S>(
        &mut self,
        source: S,
        due: tokio::time::Instant,
    ) -> Result<(), AudioError>
    where
        S: Iterator<Item = f32> + Send + 'static,
    {
        if self.device_gone() {
            return Err(AudioError::Closed);
        }
        let (Some(channels), Some(rate)) = (
            rodio::ChannelCount::new(self.channels),
            rodio::SampleRate::new(self.rate),
        ) else {
            return Err(AudioError::ZeroRate);
        };
        self.beds.fetch_add(1, Ordering::AcqRel);
        self.mixer.add(ScheduledBed {
            source,
            started: false,
            start_frame: self.frame_for(due.into_std()),
            clock: Arc::clone(&self.clock),
            channels,
            rate,
            beds: Arc::clone(&self.beds),
        });
        Ok(())
    }
}

impl Drop for AudioOut {
    fn drop(&mut self) {
        self.silence();
        drop(self.close.take());
        if let Some(thread) = self.device_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Opens the default device at its default rate, channels and sample
/// format with a short buffer (the device's own buffer if it refuses).
fn open_stream() -> Result<(cpal::Stream, Opened), AudioError> {
    let device = cpal::default_host()
        .default_output_device()
        .ok_or_else(|| AudioError::DeviceNotAvailable {
            detail: "the audio host lists no output device".into(),
        })?;
    let config = device
        .default_output_config()
        .map_err(|e| device_error("reading the default output configuration", &e))?;
    let rate = config.sample_rate();
    let channels = config.channels();
    let format = config.sample_format();
    let mut stream_config: cpal::StreamConfig = config.into();
    let frames = (BUFFER.as_secs_f64() * f64::from(rate)) as u32;
    stream_config.buffer_size = cpal::BufferSize::Fixed(frames.max(64));

    let built = build_stream(&device, stream_config, format).or_else(|err| {
        tracing::debug!("a short buffer was refused ({err}); using the device's own");
        stream_config.buffer_size = cpal::BufferSize::Default;
        build_stream(&device, stream_config, format)
    });
    let (stream, mixer, clock) = built?;
    stream
        .play()
        .map_err(|e| device_error("starting the output stream", &e))?;
    Ok((
        stream,
        Opened {
            mixer,
            clock,
            channels,
            rate,
        },
    ))
}

fn build_stream(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    format: SampleFormat,
) -> Result<(cpal::Stream, Mixer, Arc<StreamClock>), AudioError> {
    let channels = rodio::ChannelCount::new(config.channels).ok_or_else(|| AudioError::Open {
        detail: "the device offers 0 channels".into(),
    })?;
    let rate = rodio::SampleRate::new(config.sample_rate).ok_or_else(|| AudioError::Open {
        detail: "the device offers a sample rate of 0 Hz".into(),
    })?;
    let (mixer, source) = rodio::mixer::mixer(channels, rate);
    let clock = Arc::new(StreamClock::new(rate.get()));
    let feeder = Feeder {
        source,
        clock: Arc::clone(&clock),
        channels: u64::from(channels.get()),
        frames: 0,
        estimates: Window::new(),
    };
    let stream = match format {
        SampleFormat::F32 => build_typed::<f32>(device, config, feeder),
        SampleFormat::F64 => build_typed::<f64>(device, config, feeder),
        SampleFormat::I16 => build_typed::<i16>(device, config, feeder),
        SampleFormat::I32 => build_typed::<i32>(device, config, feeder),
        SampleFormat::U16 => build_typed::<u16>(device, config, feeder),
        SampleFormat::I8 => build_typed::<i8>(device, config, feeder),
        SampleFormat::U8 => build_typed::<u8>(device, config, feeder),
        other => {
            return Err(AudioError::Open {
                detail: format!("the device wants samples as {other}, which is not supported"),
            });
        }
    }
    .map_err(|e| device_error("opening the output stream", &e))?;
    Ok((stream, mixer, clock))
}

fn build_typed<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut feeder: Feeder,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let clock = Arc::clone(&feeder.clock);
    let mut errors = ErrorLog::default();
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], info| feeder.fill(data, info),
        move |err| {
            let lost = err.kind() == cpal::ErrorKind::DeviceNotAvailable;
            if lost {
                clock.lost.store(true, Ordering::Release);
            }
            errors.report(&err, lost);
        },
        None,
    )
}

/// Logs a stream's errors without flooding the log: backends report the
/// same error thousands of times a second (a dead sound server; the ALSA
/// plugin for PulseAudio even while it plays well, and when a stream is
/// closed). The first is logged, then at most one line every
/// [`ERROR_LOG_GAP`], with the count since; a device that went away is a
/// warning, other errors only debug lines.
#[derive(Debug, Default)]
struct ErrorLog {
    logged_at: Option<Instant>,
    since: u64,
}

impl ErrorLog {
    fn report(&mut self, err: &cpal::Error, lost: bool) {
        self.since += 1;
        let now = Instant::now();
        if self
            .logged_at
            .is_some_and(|at| now.duration_since(at) < ERROR_LOG_GAP)
        {
            return;
        }
        let more = match self.since {
            1 => String::new(),
            n => format!(" ({n} errors since the last line)"),
        };
        if lost {
            tracing::warn!("audio output: {err}{more}");
        } else {
            tracing::debug!("audio output: {err}{more}");
        }
        self.logged_at = Some(now);
        self.since = 0;
    }
}

/// This process's threads: id and name.
fn threads() -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            Some((tid, name.trim_end().to_string()))
        })
        .collect()
}

/// Gives the threads started since `before` was taken, bar the session's
/// own (the async runtime's and the clip decoder's), the priority of
/// [`SOUND_THREAD_NICE`] where the system allows it.
fn raise_sound_threads(before: &[(i32, String)]) {
    let ours = |name: &str| name.starts_with("tokio") || name == "clips";
    let mut raised = Vec::new();
    for (tid, name) in threads() {
        if before.iter().any(|(t, _)| *t == tid) || ours(&name) {
            continue;
        }
        let Some(pid) = rustix::process::Pid::from_raw(tid) else {
            continue;
        };
        match rustix::process::setpriority_process(Some(pid), SOUND_THREAD_NICE) {
            Ok(()) => raised.push(name),
            Err(err) => {
                tracing::info!(
                    "the sound threads keep the normal priority ({err}): on a busy machine cues may sound late"
                );
                return;
            }
        }
    }
    tracing::debug!(?raised, nice = SOUND_THREAD_NICE, "sound threads raised");
}

fn device_error(doing: &str, err: &cpal::Error) -> AudioError {
    let detail = format!("{doing}: {err}");
    match err.kind() {
        cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::HostUnavailable => {
            AudioError::DeviceNotAvailable { detail }
        }
        _ => AudioError::Open { detail },
    }
}

/// Nanoseconds from `base` to `t`, negative if `t` is earlier.
fn signed_ns(base: Instant, t: Instant) -> i64 {
    match t.checked_duration_since(base) {
        Some(d) => d.as_nanos() as i64,
        None => -(base.duration_since(t).as_nanos() as i64),
    }
}

/// Where the stream stands, shared by the device callback (which writes
/// it), `AudioOut` and every scheduled clip.
#[derive(Debug)]
struct StreamClock {
    /// Instants are kept as nanoseconds from here.
    base: Instant,
    rate: u32,
    /// The frame being produced.
    frame: AtomicU64,
    /// When frame 0 plays.
    anchor_ns: AtomicI64,
    /// The most audio seen queued ahead of the moment right after a buffer
    /// was produced.
    max_ahead_ns: AtomicI64,
    /// Buffers the device has asked for.
    pulls: AtomicU64,
    /// When it last asked.
    last_pull_ns: AtomicI64,
    /// The device went away (unplugged, or the sound server quit).
    lost: AtomicBool,
    /// How many times the device stood still ([`REANCHOR_GAP`]) and the
    /// anchor was started afresh.
    reanchored: AtomicU64,
    /// Clips dropped for being late (see [`ScheduledClip`]).
    dropped_late: AtomicU64,
}

impl StreamClock {
    fn new(rate: u32) -> Self {
        StreamClock {
            base: Instant::now(),
            rate,
            frame: AtomicU64::new(0),
            anchor_ns: AtomicI64::new(UNKNOWN),
            max_ahead_ns: AtomicI64::new(0),
            pulls: AtomicU64::new(0),
            last_pull_ns: AtomicI64::new(0),
            lost: AtomicBool::new(false),
            reanchored: AtomicU64::new(0),
            dropped_late: AtomicU64::new(0),
        }
    }

    /// Whether the device asked for audio once and then stopped.
    fn stalled(&self) -> bool {
        self.pulls.load(Ordering::Acquire) > 0
            && signed_ns(self.base, Instant::now()) - self.last_pull_ns.load(Ordering::Acquire)
                > STALLED.as_nanos() as i64
    }

    fn frames_ns(&self, frames: u64) -> i64 {
        (u128::from(frames) * 1_000_000_000 / u128::from(self.rate.max(1))) as i64
    }

    /// The frame that plays at `at_ns`, by the anchor; none while there is
    /// no anchor.
    fn frame_at(&self, at_ns: i64) -> Option<u64> {
        let anchor = self.anchor_ns.load(Ordering::Acquire);
        (anchor != UNKNOWN).then(|| {
            let frames = i128::from(at_ns - anchor) * i128::from(self.rate) / 1_000_000_000;
            frames.max(0) as u64
        })
    }

    /// How late frame `frame` plays against `due_ns`, by the anchor; none
    /// while there is no anchor.
    fn late_ns(&self, frame: u64, due_ns: i64) -> Option<i64> {
        let anchor = self.anchor_ns.load(Ordering::Acquire);
        (anchor != UNKNOWN).then(|| anchor + self.frames_ns(frame) - due_ns)
    }
}

/// Runs in the device callback: fills each buffer from the mixer and keeps
/// the stream clock.
struct Feeder {
    source: MixerSource,
    clock: Arc<StreamClock>,
    channels: u64,
    /// Frames produced before this buffer.
    frames: u64,
    estimates: Window,
}

impl Feeder {
    fn fill<T: SizedSample + FromSample<f32>>(
        &mut self,
        data: &mut [T],
        info: &cpal::OutputCallbackInfo,
    ) {
        let now = Instant::now();
        let stamp = info.timestamp();
        let queued = stamp.playback.duration_since(stamp.callback);
        self.on_pull(now, queued, data.len() as u64 / self.channels);

        for (i, out) in data.iter_mut().enumerate() {
            let i = i as u64;
            if i.is_multiple_of(self.channels) {
                self.clock
                    .frame
                    .store(self.frames + i / self.channels, Ordering::Release);
            }
            let sample = self.source.next().unwrap_or(0.0);
            *out = T::from_sample(sample);
        }
        self.frames += data.len() as u64 / self.channels;
        self.clock.frame.store(self.frames, Ordering::Release);
    }

    /// A buffer of `len` frames is asked for at `now`; its first frame plays
    /// `queued` later, by the device's account.
    fn on_pull(&mut self, now: Instant, queued: Duration, len: u64) {
        let clock = &self.clock;
        let now_ns = signed_ns(clock.base, now);
        let quiet_ns = now_ns - clock.last_pull_ns.load(Ordering::Acquire);
        if clock.pulls.load(Ordering::Acquire) > 0 && quiet_ns > REANCHOR_GAP.as_nanos() as i64 {
            // the device stood still: its frames play later than the old
            // anchor says, by however long the gap was beyond a buffer's
            // (the first reports after a gap are not to be trusted)
            self.estimates.shift(quiet_ns - clock.frames_ns(len));
            clock.reanchored.fetch_add(1, Ordering::AcqRel);
        }
        let first_plays_ns = now_ns + queued.as_nanos() as i64;
        let anchor = self
            .estimates
            .push_median(first_plays_ns - clock.frames_ns(self.frames));
        // how far past `now` the end of this buffer will play
        let ahead = anchor + clock.frames_ns(self.frames + len) - now_ns;
        clock.max_ahead_ns.fetch_max(ahead, Ordering::AcqRel);
        clock.anchor_ns.store(anchor, Ordering::Release);
        clock.last_pull_ns.store(now_ns, Ordering::Release);
        clock.pulls.fetch_add(1, Ordering::AcqRel);
    }
}

/// The last [`ANCHOR_WINDOW`] anchor estimates, without allocating in the
/// device callback.
struct Window {
    values: [i64; ANCHOR_WINDOW],
    len: usize,
    next: usize,
    scratch: [i64; ANCHOR_WINDOW],
}

impl Window {
    fn new() -> Self {
        Window {
            values: [0; ANCHOR_WINDOW],
            len: 0,
            next: 0,
            scratch: [0; ANCHOR_WINDOW],
        }
    }

    /// Moves every estimate by `by`.
    fn shift(&mut self, by: i64) {
        for value in &mut self.values[..self.len] {
            *value += by;
        }
    }

    /// Adds `value` and returns the median of the window.
    fn push_median(&mut self, value: i64) -> i64 {
        self.values[self.next] = value;
        self.next = (self.next + 1) % ANCHOR_WINDOW;
        self.len = (self.len + 1).min(ANCHOR_WINDOW);
        let scratch = &mut self.scratch[..self.len];
        scratch.copy_from_slice(&self.values[..self.len]);
        let mid = self.len / 2;
        *scratch.select_nth_unstable(mid).1
    }
}

/// A clip handed to the mixer: silent until the stream reaches its start
/// frame, then its samples; cut short when the epoch moves on. One that
/// would start more than [`STALE_AFTER`] ms after it was due (the stream
/// stood still meanwhile) is dropped unheard, and one under way when the
/// stream stood still ends there.
struct ScheduledClip {
    samples: Arc<[f32]>,
    pos: usize,
    rate: NonZeroU32,
    start_frame: u64,
    /// When its first sample is due to play (ns from the clock's base).
    due_ns: i64,
    /// The clock's re-anchor count when its start frame was worked out.
    placed_in: u64,
    /// The clock's re-anchor count when it started.
    started_in: Option<u64>,
    /// Dropped (counted once).
    dropped: bool,
    clock: Arc<StreamClock>,
    epoch: u64,
    current_epoch: Arc<AtomicU64>,
    sounding: Arc<AtomicUsize>,
}

impl Iterator for ScheduledClip {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.current_epoch.load(Ordering::Relaxed) != self.epoch || self.dropped {
            return None;
        }
        let reanchored = self.clock.reanchored.load(Ordering::Relaxed);
        match self.started_in {
            Some(started) if started != reanchored => return self.drop_late(),
            Some(_) => {}
            None => {
                if self.placed_in != reanchored {
                    // placed before the stream stood still: placed again
                    if let Some(frame) = self.clock.frame_at(self.due_ns) {
                        self.start_frame = frame;
                    }
                    self.placed_in = reanchored;
                }
                let frame = self.clock.frame.load(Ordering::Acquire);
                if frame < self.start_frame {
                    return Some(0.0);
                }
                let stale = STALE_AFTER as i64 * 1_000_000;
                if self
                    .clock
                    .late_ns(frame, self.due_ns)
                    .is_some_and(|late| late > stale)
                {
                    return self.drop_late();
                }
                self.started_in = Some(reanchored);
            }
        }
        let sample = self.samples.get(self.pos).copied();
        self.pos += 1;
        sample
    }
}

impl ScheduledClip {
    /// Ends the clip unheard (or its rest, after a stall), counted.
    fn drop_late(&mut self) -> Option<f32> {
        if !self.dropped {
            self.dropped = true;
            self.clock.dropped_late.fetch_add(1, Ordering::AcqRel);
        }
        // counted once: the mixer asks no more of an ended source
        self.pos = self.samples.len();
        None
    }
}

impl Source for ScheduledClip {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        rodio::ChannelCount::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

impl Drop for ScheduledClip {
    fn drop(&mut self) {
        self.sounding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A long source handed to the mixer at the output's own rate and channel
/// count: silent until the stream reaches its start frame, then its
/// samples until it ends. Its start is checked only between frames, so its
/// channels stay in step.
struct ScheduledBed<S> {
    source: S,
    started: bool,
    start_frame: u64,
    clock: Arc<StreamClock>,
    channels: rodio::ChannelCount,
    rate: rodio::SampleRate,
    /// Counts it until it ends, so that [`AudioOut::drain`] lets it play
    /// out.
    beds: Arc<AtomicUsize>,
}

impl<S> Drop for ScheduledBed<S> {
    fn drop(&mut self) {
        self.beds.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S: Iterator<Item = f32>> Iterator for ScheduledBed<S> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if !self.started {
            if self.clock.frame.load(Ordering::Acquire) < self.start_frame {
                return Some(0.0);
            }
            self.started = true;
        }
        self.source.next()
    }
}

impl<S: Iterator<Item = f32>> Source for ScheduledBed<S> {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        self.channels
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

/// Says one clip on the default output and returns once it has been heard:
/// `massage-cue say`. Opens the device for this one clip, so the sound
/// server's stream-opening delay comes first.
pub fn say(clip: &Clip) -> Result<(), AudioError> {
    let mut out = AudioOut::open()?;
    out.play(clip)?;
    let expected = Duration::from_millis(clip.duration_ms()) + out.start_delay();
    if !out.drain(expected + Duration::from_secs(5)) && out.is_closed() {
        return Err(AudioError::Closed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_can_move_to_and_be_shared_with_a_session_task() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<AudioOut>();
    }

    #[test]
    fn the_anchor_window_outvotes_outliers_and_follows_a_shift() {
        let mut w = Window::new();
        for _ in 0..20 {
            assert_eq!(w.push_median(1_000), 1_000);
        }
        // a few buffers reported late do not move it
        for _ in 0..5 {
            assert_eq!(w.push_median(9_000), 1_000);
        }
        // a lasting shift wins once it is most of the window
        let mut moved_after = None;
        for i in 0..ANCHOR_WINDOW {
            if w.push_median(2_000) == 2_000 {
                moved_after = Some(i + 1);
                break;
            }
        }
        // 20 old, 5 outliers: the median moves once 15 new ones are in
        assert_eq!(moved_after, Some(15));
    }
}
