//! The one task that owns the session. Connections send it each
//! [`Request`] with a reply channel; it sleeps until the session's next deadline, a
//! message, or shutdown, whichever comes first. With no session playing it
//! has no deadline, so nothing wakes it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::options::session_options;
use super::shutdown::Shutdown;
use crate::audio::{AudioError, AudioOut, CueSink};
use crate::clip::Clip;
use crate::config::Config;
use crate::history::{Entry, History};
use crate::lookup::find_routine;
use crate::ms::Ms;
use crate::paths::Paths;
use crate::plan::{self, Cue, Plan};
use crate::playback::{self, Clock, Handed, Playback};
use crate::protocol::{
    ErrorKind, Request, Response, SessionState, SpokenCue, StartOptions, Status,
};
use crate::routine::{self, Routine};
use crate::session::{Session, State};
use crate::state::{self, SavedOptions, SavedSession, StateFile};
use crate::voice::{Voice, VoiceSettings};

/// How often a lost sound output is tried again.
const AUDIO_RETRY_MS: Ms = 2_000;
/// How long the last clips of a finished session get to sound out.
const DRAIN_ON_FINISH: Duration = Duration::from_secs(3);
/// How many times a session tries to open the sound output when it starts.
const OPEN_TRIES: u32 = 3;
/// How long past its expected end a clip may still be sounding before the
/// output is taken for dead: long enough that a busy machine's hiccup is
/// not mistaken for it.
const STALL_MS: Ms = 2_000;
/// While a session runs, a silent probe is played this long after the last
/// check, so that an output that dies between cues is noticed too.
const PROBE_MS: Ms = 1_000;

/// The sound output, opened for a session and closed when it ends, so an
/// idle daemon holds no stream.
#[derive(Debug, Default)]
enum Audio {
    /// No stream: idle, or no device at all (cues are shown as text only).
    #[default]
    Closed,
    Open(AudioOut),
    /// The output went away mid-session; it is tried again every
    /// [`AUDIO_RETRY_MS`].
    Lost,
}

/// Watches an open output for a stream that no longer plays.
///
/// A sound server that dies does not always make the output fail: clips
/// are still taken, but the device stops asking for samples, so they never
/// finish. Every clip handed over is expected to have finished some time
/// after its end ([`STALL_MS`]); more clips sounding than are still within
/// that time means the stream has stopped. During a long silence a silent
/// probe clip keeps the check going.
#[derive(Debug, Default)]
struct Watch {
    /// For each clip handed over and not yet checked: the clock ms by which
    /// it has finished if the output still plays.
    finished_by: Vec<Ms>,
    /// When to play the next probe (clock ms), while a session runs.
    probe_at: Option<Ms>,
}

impl Watch {
    /// A clip of `duration_ms` starts at `at` (clock ms), sounding
    /// `delay_ms` later.
    fn played(&mut self, at: Ms, duration_ms: Ms, delay_ms: Ms) {
        self.finished_by
            .push(at + duration_ms + delay_ms + STALL_MS);
    }

    /// When the watch next needs to look (clock ms).
    fn next(&self) -> Option<Ms> {
        let check = self.finished_by.iter().copied().min();
        match (check, self.probe_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether `sounding` clips at `now` mean the stream has stopped;
    /// forgets the clips that are past their time.
    fn stalled(&mut self, now: Ms, sounding: usize) -> bool {
        if !self.finished_by.iter().any(|&by| by <= now) {
            return false;
        }
        self.finished_by.retain(|&by| by > now);
        sounding > self.finished_by.len()
    }
}

/// The session task's answer.
#[derive(Debug)]
pub(super) enum Outcome {
    Reply(Response),
    /// The status, and the stream of updates from this moment on.
    Subscribed(Response, broadcast::Receiver<Response>),
}

/// A control message with its reply channel.
#[derive(Debug)]
pub(super) struct Message {
    pub(super) request: Request,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// How many updates a subscriber may fall behind before it is sent a fresh
/// status instead of the ones it missed.
const UPDATE_BACKLOG: usize = 64;

/// A session in progress (or paused, or just finished).
#[derive(Debug)]
struct Active {
    routine_path: PathBuf,
    options: plan::Options,
    session: Session,
    /// The clip of every cue of the plan, by index.
    clips: Clips,
    started_at_ms: u64,
    /// The resume point last saved (plan ms), to save once each time it
    /// moves on: at every repetition, and at every cue outside repetitions
    /// (announcements, the cues of a timed step), so that a session cut
    /// off anywhere comes back within one of them.
    saved_at: Option<Ms>,
    /// Whether it has been written to the history yet.
    logged: bool,
}

/// A request that could not be carried out.
struct Refusal(ErrorKind, String);

impl Refusal {
    fn bad_input(err: impl std::fmt::Display) -> Refusal {
        Refusal(ErrorKind::BadInput, err.to_string())
    }
}

pub(super) struct SessionTask {
    paths: Paths,
    state_file: StateFile,
    history: History,
    /// Hands the due cues to the output, on the session clock.
    playback: Playback,
    active: Option<Active>,
    /// When the session next needs attention (clock ms), while it runs.
    wake: Option<Ms>,
    /// Said in the next status: what happened that the user should know.
    message: Option<String>,
    /// Why the position could not be saved (a full disk, a failing
    /// device), said in every status until a save succeeds again or there
    /// is no position left to keep.
    unsaved: Option<String>,
    /// Why the last session could not be written to the history, said in
    /// every status until a session is written.
    unlogged: Option<String>,
    updates: broadcast::Sender<Response>,
    /// Phrase → clip, shared by every session of this daemon.
    voice: Arc<Voice>,
    audio: Audio,
    /// When to try a lost sound output again (clock ms).
    retry_at: Option<Ms>,
    /// Whether the open output still plays.
    watch: Watch,
    /// The silent clip the watch plays between cues.
    probe: Clip,
    /// Whether a lost output is being opened again.
    reopening: bool,
    /// Where that attempt sends its result, and where the task hears it.
    reopened_tx: mpsc::Sender<Reopened>,
    reopened_rx: Option<mpsc::Receiver<Reopened>>,
}

/// The result of opening a lost output again.
type Reopened = Result<AudioOut, AudioError>;

impl SessionTask {
    pub(super) fn new(paths: Paths) -> SessionTask {
        // the daemon checked the configuration before it got here
        let config = Config::load(&paths.config_file).unwrap_or_default();
        let voice = Arc::new(Voice::new(VoiceSettings::from_config(
            &config.voice,
            &paths,
        )));
        let probe = Clip::new(voice.rate(), vec![0.0_f32]);
        let (reopened_tx, reopened_rx) = mpsc::channel(1);
        SessionTask {
            reopening: false,
            reopened_tx,
            reopened_rx: Some(reopened_rx),
            voice,
            watch: Watch::default(),
            probe,
            audio: Audio::Closed,
            retry_at: None,
            state_file: StateFile::new(paths.state_file()),
            history: History::new(paths.history_file()),
            paths,
            playback: Playback::new(Clock::start()),
            active: None,
            wake: None,
            message: None,
            unsaved: None,
            unlogged: None,
            updates: broadcast::channel(UPDATE_BACKLOG).0,
        }
    }

    fn now(&self) -> Ms {
        self.playback.clock().now()
    }

    /// Loads a session interrupted by a restart, as paused.
    pub(super) fn restore(&mut self) {
        let saved = match self.state_file.load() {
            Ok(Some(saved)) => saved,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!("{err}");
                return;
            }
        };
        let options = plan::Options::from(&saved.options);
        let voice = self.voice.clone();
        match read_routine(&saved.routine).and_then(|routine| make_plan(&routine, &options, &voice))
        {
            Ok((plan, clips)) => {
                tracing::info!(
                    "restored the session of {} at {} ms, paused",
                    plan.routine,
                    saved.offset_ms
                );
                self.message = Some(format!(
                    "The session of {} was interrupted; it is paused where it was. Resume to carry on.",
                    plan.routine
                ));
                self.active = Some(Active {
                    routine_path: saved.routine,
                    options,
                    session: Session::paused_at(plan, saved.offset_ms),
                    clips,
                    started_at_ms: saved.started_at_ms,
                    saved_at: None,
                    logged: false,
                });
            }
            Err(Refusal(_, why)) => {
                tracing::warn!("cannot restore the interrupted session: {why}");
                if let Err(err) = self.state_file.clear() {
                    tracing::warn!("cannot remove {}: {err}", self.state_file.path().display());
                }
            }
        }
    }

    /// Runs until shutdown, then saves where the session is.
    pub(super) async fn run(mut self, mut inbox: mpsc::Receiver<Message>, mut shutdown: Shutdown) {
        let Some(mut reopened) = self.reopened_rx.take() else {
            return;
        };
        loop {
            let next = [self.wake, self.retry_at, self.watch.next()]
                .into_iter()
                .flatten()
                .min();
            let deadline = next.map(|ms| self.playback.clock().instant(ms));
            tokio::select! {
                message = inbox.recv() => match message {
                    Some(Message { request, reply }) => {
                        let outcome = self.handle(request);
                        let _ = reply.send(outcome);
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.check_audio();
                    if self.retry_at.is_some_and(|at| at <= self.now()) {
                        self.retry_audio();
                    }
                    self.pump();
                }
                Some(result) = reopened.recv() => self.reopened(result),
                () = shutdown.recv() => break,
            }
        }
        self.save_on_shutdown();
    }

    fn handle(&mut self, request: Request) -> Outcome {
        let now = self.now();
        let changes = !matches!(request, Request::Status);
        let result = match request {
            Request::Start { routine, options } => self.start(&routine, &options, now),
            Request::Status => Ok(None),
            Request::Subscribe => {
                let receiver = self.updates.subscribe();
                return Outcome::Subscribed(self.ok(None), receiver);
            }
            Request::Pause => self.pause(now),
            Request::Resume => self.resume(now),
            Request::Toggle => match self.active.as_ref().map(|a| a.session.state()) {
                Some(State::Running) => self.pause(now),
                _ => self.resume(now),
            },
            Request::Next => self.jump(now, Session::next_stretch),
            Request::Prev => self.jump(now, Session::prev_stretch),
            Request::Repeat => self.jump(now, Session::repeat_stretch),
            Request::NextStep => self.jump(now, Session::next_step),
            Request::PrevStep => self.jump(now, Session::prev_step),
            Request::RepeatStep => self.jump(now, Session::repeat_step),
            Request::Stop => self.stop(now),
            // the daemon, not the session, shuts down; connections see to it
            Request::Shutdown => Err(Refusal(
                ErrorKind::Failed,
                "shutdown is not a session request".into(),
            )),
        };
        Outcome::Reply(match result {
            Ok(said) => {
                self.pump();
                if changes {
                    self.publish(None);
                }
                self.ok(said)
            }
            Err(Refusal(kind, message)) => Response::error(kind, message),
        })
    }

    fn ok(&self, message: Option<String>) -> Response {
        Response::Ok {
            status: self.status(),
            message,
        }
    }

    fn start(
        &mut self,
        routine: &str,
        options: &StartOptions,
        now: Ms,
    ) -> Result<Option<String>, Refusal> {
        let asked = std::time::Instant::now();
        if let Some(active) = &self.active
            && !options.replace
            && matches!(
                active.session.state(),
                State::Running | State::Paused | State::Waiting
            )
        {
            let state = match active.session.state() {
                State::Running => "running",
                State::Waiting => "waiting for you",
                _ => "paused",
            };
            return Err(Refusal(
                ErrorKind::NotNow,
                format!(
                    "a session of \"{}\" is {state}; to replace it, start again with --replace \
                     (or stop it first with `massage-cue stop`)",
                    active.session.plan().routine
                ),
            ));
        }
        let path = find_routine(routine, &self.paths).map_err(Refusal::bad_input)?;
        let path = path.canonicalize().unwrap_or(path);
        let config = Config::load(&self.paths.config_file).map_err(Refusal::bad_input)?;
        let mut options = session_options(options, config.options());
        let routine = read_routine(&path)?;
        if routine.course.is_some() {
            let done = self
                .history
                .read()
                .map(|log| log.sessions_done(&routine.name))
                .unwrap_or_else(|err| {
                    tracing::warn!("cannot read {}: {err}", self.history.path().display());
                    0
                });
            options.session_number = Some(done + 1);
        }
        // the session there is keeps its own clips; the voice lets go of
        // them, so that it holds only the new session's
        self.voice.forget();
        let voice = self.voice.clone();
        let (plan, clips) = make_plan(&routine, &options, &voice)?;
        let notes = (!plan.notes.is_empty()).then(|| plan.notes.join("; "));
        // A session replaced by another keeps the open output: no second
        // wait for the sound server, no gap.
        let output = match std::mem::take(&mut self.audio) {
            Audio::Open(mut out) => {
                out.silence();
                Some(out)
            }
            other => {
                self.audio = other;
                None
            }
        };
        // news of the last session's history line is old now; the session
        // this one replaces is written (or not) below
        self.unlogged = None;
        self.end_session(now);
        if let Some(out) = output {
            self.audio = Audio::Open(out);
        }
        let opening = std::time::Instant::now();
        let sound = self.open_audio();
        let opened = opening.elapsed();
        // the first cue waits for its own clip, and only for it
        if let (Some(slot), Some(cue)) = (clips.first(), plan.cues.first()) {
            slot.get_or_init(|| voice.cue_clip(cue));
        }
        // preparing the voice and opening the output took time: start now
        let now = self.now();
        let session = Session::start(plan, now);
        // The first cue is due now and sounds after the output's delay.
        let delay = match &self.audio {
            Audio::Open(out) => out.start_delay(),
            _ => Duration::ZERO,
        };
        tracing::info!(
            "started {} from {}; first sound {} ms after the request, not counting {} ms opening the sound output",
            session.plan().routine,
            path.display(),
            (asked.elapsed() - opened + delay).as_millis(),
            opened.as_millis()
        );
        self.message = sound.err();
        self.active = Some(Active {
            routine_path: path,
            options,
            session,
            clips,
            started_at_ms: state::unix_ms_now(),
            saved_at: None,
            logged: false,
        });
        self.save(now);
        Ok(notes)
    }

    fn session_mut(&mut self) -> Result<&mut Active, Refusal> {
        match &mut self.active {
            Some(active) if active.session.state() != State::Finished => Ok(active),
            _ => Err(Refusal(
                ErrorKind::NotNow,
                "no session is under way; start one with `massage-cue start ROUTINE`".into(),
            )),
        }
    }

    fn pause(&mut self, now: Ms) -> Result<Option<String>, Refusal> {
        self.session_mut()?;
        if let Some(active) = &mut self.active {
            let out = match &mut self.audio {
                Audio::Open(out) => Some(out),
                _ => None,
            };
            playback::pause(&mut active.session, now, out);
        }
        self.message = None;
        self.save(now);
        Ok(None)
    }

    fn resume(&mut self, now: Ms) -> Result<Option<String>, Refusal> {
        let active = self.session_mut()?;
        if active.session.state() == State::Running {
            return Ok(None);
        }
        let Some(say) = active.session.resume_phrase(now) else {
            // the go signal at a waiting step: the next step is announced
            // at once, with nothing said about resuming
            active.session.resume(now, 0);
            self.message = None;
            self.save(now);
            return Ok(None);
        };
        let point = active.session.resume_point(now);
        if matches!(self.audio, Audio::Lost) {
            self.retry_audio();
            return Err(Refusal(
                ErrorKind::NotNow,
                "the sound output is still unavailable; the session stays paused until it is back"
                    .into(),
            ));
        }
        // a session restored after a restart has no output yet; without a
        // device it runs as text, as a new session does
        let sound = self.open_audio().err();
        let voice = self.voice.clone();
        let clip = tokio::task::block_in_place(|| voice.clip(&say));
        let phrase_ms = clip.duration_ms();
        let now = self.now();
        if let Audio::Open(out) = &mut self.audio {
            if let Err(err) = out.play(&clip) {
                self.sound_lost(now, &err);
                return Err(Refusal(
                    ErrorKind::Failed,
                    format!("the sound output failed: {err}"),
                ));
            }
            self.watch
                .played(now, phrase_ms, out.start_delay().as_millis() as Ms);
        }
        let Some(active) = &mut self.active else {
            return Ok(None);
        };
        active.session.resume(now, phrase_ms);
        self.message = sound;
        self.save(now);
        self.publish(Some(&SpokenCue {
            text: say.clone(),
            kind: "resume".into(),
            at_ms: point,
            duration_ms: phrase_ms,
        }));
        Ok(Some(say))
    }

    fn jump(&mut self, now: Ms, how: fn(&mut Session, Ms)) -> Result<Option<String>, Refusal> {
        let active = self.session_mut()?;
        how(&mut active.session, now);
        // a move held back (cautions, the end) leaves the session as it is
        if let Some(notice) = active.session.take_notice() {
            return Ok(Some(notice.to_string()));
        }
        self.silence();
        self.message = None;
        self.after_change(now);
        Ok(None)
    }

    fn stop(&mut self, now: Ms) -> Result<Option<String>, Refusal> {
        self.session_mut()?;
        self.end_session(now);
        self.voice.forget();
        self.message = Some("Session stopped.".into());
        Ok(None)
    }

    /// Gives the session what is due now: every cue whose time has come is
    /// handed to the output (stale ones are dropped by the session), and
    /// the next wake-up is set. Nothing is set while paused or idle, so
    /// nothing wakes.
    fn pump(&mut self) {
        let now = self.now();
        self.wake = None;
        loop {
            let Some(Active { session, clips, .. }) = &mut self.active else {
                return;
            };
            let out = match &mut self.audio {
                Audio::Open(out) => Some(out),
                _ => None,
            };
            let voice = &self.voice;
            let plan = Arc::clone(session.plan());
            let clip = |i: usize| {
                let cue = plan.cues.get(i)?;
                let slot = clips.get(i)?;
                Some(slot.get_or_init(|| voice.cue_clip(cue)).clone())
            };
            let handover = self.playback.hand_over(session, now, out, clip);
            match handover.map(|h| h.next) {
                Ok(Handed::Cue { cue, due, clip_ms }) => {
                    let spoken = spoken(&session.plan().cues[cue]);
                    if let Audio::Open(out) = &self.audio {
                        // a clip due in the past starts at once
                        self.watch.played(
                            due.max(now),
                            clip_ms,
                            out.start_delay().as_millis() as Ms,
                        );
                    }
                    // the cue handed over counts as begun
                    self.after_change(due.max(now));
                    self.publish(Some(&spoken));
                }
                Ok(Handed::Wait(at)) => {
                    self.wake = Some(at);
                    return;
                }
                Ok(Handed::Nothing) => {
                    if self.after_change(now) {
                        // the only news a finished session sends
                        self.publish(None);
                    }
                    return;
                }
                Err(err) => {
                    self.sound_lost(now, &err);
                    self.publish(None);
                    return;
                }
            }
        }
    }

    /// Saves at a step or repetition boundary; logs and forgets a session
    /// that has finished. True when the session has just finished.
    fn after_change(&mut self, now: Ms) -> bool {
        let Some(active) = &self.active else {
            return false;
        };
        if active.session.state() == State::Finished {
            if active.logged {
                return false;
            }
            tracing::info!(
                "the session of {} is complete",
                active.session.plan().routine
            );
            self.log(now, true);
            self.clear_saved();
            self.close_audio(true);
            self.forget_clips();
            return true;
        }
        if active.saved_at != Some(active.session.resume_point(now)) {
            self.save(now);
        }
        false
    }

    /// Saves the session's position atomically.
    fn save(&mut self, now: Ms) {
        let Some(active) = &mut self.active else {
            return;
        };
        // a resume carries on from the start of the repetition
        let offset_ms = active.session.resume_point(now);
        active.saved_at = Some(offset_ms);
        let saved = SavedSession {
            format: state::FORMAT,
            routine: active.routine_path.clone(),
            options: SavedOptions::from(&active.options),
            offset_ms,
            paused: active.session.state() != State::Running,
            started_at_ms: active.started_at_ms,
        };
        match self.state_file.save(&saved) {
            Ok(()) => {
                if self.unsaved.take().is_some() {
                    tracing::info!("the session's position can be saved again");
                }
            }
            Err(err) => {
                let trouble = format!(
                    "Cannot save the session's position to {}: {err}. The session plays on; \
                     make room there so that it can carry on after a restart.",
                    self.state_file.path().display()
                );
                // once, not at every repetition
                if self.unsaved.as_ref() != Some(&trouble) {
                    tracing::warn!("{trouble}");
                }
                self.unsaved = Some(trouble);
            }
        }
    }

    /// Writes the session to the history once.
    fn log(&mut self, now: Ms, completed: bool) {
        let Some(active) = &mut self.active else {
            return;
        };
        if active.logged {
            return;
        }
        active.logged = true;
        let at = active.session.position(now);
        let plan = active.session.plan();
        let entry = Entry {
            routine: plan.routine.clone(),
            path: active.routine_path.clone(),
            options: SavedOptions::from(&active.options),
            started_at_ms: active.started_at_ms,
            ended_at_ms: state::unix_ms_now(),
            steps_completed: plan.steps.iter().filter(|s| s.end_ms <= at).count(),
            steps: plan.steps.len(),
            completed,
        };
        self.unlogged = self.history.append(&entry).err().map(|err| {
            let trouble = format!(
                "Cannot write the session to the history {}: {err}; it is not counted.",
                self.history.path().display()
            );
            tracing::warn!("{trouble}");
            trouble
        });
    }

    /// Ends the session there is (stopped, or replaced by a new one).
    fn end_session(&mut self, now: Ms) {
        let Some(active) = &self.active else { return };
        if active.session.state() != State::Finished {
            self.log(now, false);
        }
        self.active = None;
        self.wake = None;
        self.close_audio(false);
        self.clear_saved();
    }

    /// Forgets the saved position of a session that ended: nothing is
    /// left to keep, so a position that could not be saved is no longer
    /// news.
    fn clear_saved(&mut self) {
        match self.state_file.clear() {
            Ok(()) => self.unsaved = None,
            Err(err) => tracing::warn!("cannot remove the saved session: {err}"),
        }
    }

    /// Lets go of a finished session's clips, and of every clip the voice
    /// resolved, so that a daemon running for months does not grow with
    /// each session it plays. The last clips sounding out hold their own
    /// samples.
    fn forget_clips(&mut self) {
        if let Some(active) = &mut self.active {
            active.clips = Arc::new(Vec::new());
        }
        self.voice.forget();
    }

    /// On shutdown, a session under way is saved to be carried on later.
    fn save_on_shutdown(&mut self) {
        let now = self.now();
        let Some(active) = &mut self.active else {
            return;
        };
        if active.session.state() == State::Finished {
            return;
        }
        let out = match &mut self.audio {
            Audio::Open(out) => Some(out),
            _ => None,
        };
        playback::pause(&mut active.session, now, out);
        self.save(now);
        tracing::info!("saved the session's position for the next start");
    }

    /// Opens the sound output for a session, unless it is open. Without a
    /// device the session still runs, its cues shown as text: the error
    /// says so, for the status.
    fn open_audio(&mut self) -> Result<(), String> {
        if let Audio::Open(_) = self.audio {
            return Ok(());
        }
        match tokio::task::block_in_place(open_output) {
            Ok(out) => {
                self.audio = Audio::Open(out);
                self.watch = Watch::default();
                self.retry_at = None;
                Ok(())
            }
            Err(err) => {
                tracing::warn!("no sound: {err}");
                self.audio = Audio::Closed;
                Err(format!(
                    "No sound: {err}. The session runs with its cues shown as text (massage-cue status --follow); \
                     `massage-cue render ROUTINE -o session.wav` makes a sound file to play elsewhere."
                ))
            }
        }
    }

    /// Stops every clip sounding, at once.
    fn silence(&mut self) {
        if let Audio::Open(out) = &mut self.audio {
            out.silence();
        }
    }

    /// Closes the sound output; a finished session's last clips (the
    /// chime) first sound out, away from the session task.
    fn close_audio(&mut self, let_finish: bool) {
        self.retry_at = None;
        self.watch = Watch::default();
        match std::mem::take(&mut self.audio) {
            Audio::Open(out) if let_finish => {
                tokio::task::spawn_blocking(move || {
                    out.drain(DRAIN_ON_FINISH);
                    drop(out);
                });
            }
            Audio::Open(mut out) => out.silence(),
            Audio::Closed | Audio::Lost => {}
        }
    }

    /// The sound output failed mid-session: pause, keep the daemon going,
    /// and try the output again every few seconds.
    fn sound_lost(&mut self, now: Ms, err: &AudioError) {
        tracing::warn!("the sound output was lost: {err}");
        if let Audio::Open(out) = std::mem::replace(&mut self.audio, Audio::Lost) {
            // closing a stream whose server is gone can take a while: not
            // on the session task
            tokio::task::spawn_blocking(move || drop(out));
        }
        self.watch = Watch::default();
        self.retry_at = Some(now + AUDIO_RETRY_MS);
        self.wake = None;
        if let Some(active) = &mut self.active {
            active.session.pause(now);
        }
        self.message = Some(format!(
            "The sound output was lost ({err}); the session is paused where it was. \
             It is tried again every {} s.",
            AUDIO_RETRY_MS / 1000
        ));
        self.save(now);
    }

    /// Looks whether the open output still plays (see [`Watch`]): a stream
    /// that has stopped is lost, like one that fails. While the session
    /// runs, a silent probe is played when no clip has been for a while.
    fn check_audio(&mut self) {
        let now = self.now();
        let Audio::Open(out) = &mut self.audio else {
            self.watch = Watch::default();
            return;
        };
        let sounding = out.sounding();
        if self.watch.stalled(now, sounding) {
            tracing::warn!(
                "the sound output stopped playing: {sounding} clips still sounding, {} expected at most",
                self.watch.finished_by.len()
            );
            self.sound_lost(now, &AudioError::Closed);
            self.publish(None);
            return;
        }
        let running = self
            .active
            .as_ref()
            .is_some_and(|a| a.session.state() == State::Running);
        if !running || !self.watch.finished_by.is_empty() {
            // a clip under way is checked already
            self.watch.probe_at = None;
            return;
        }
        match self.watch.probe_at {
            Some(at) if at <= now => {
                self.watch.probe_at = None;
                match out.play(&self.probe) {
                    Ok(()) => self
                        .watch
                        .played(now, 0, out.start_delay().as_millis() as Ms),
                    Err(err) => {
                        self.sound_lost(now, &err);
                        self.publish(None);
                    }
                }
            }
            Some(_) => {}
            None => self.watch.probe_at = Some(now + PROBE_MS),
        }
    }

    /// Tries a lost sound output again; once it is back, the session
    /// resumes by itself when `[audio] auto_resume` is set, else waits.
    ///
    /// Opening takes a second or two, more on a busy machine, so it happens
    /// away from the session task, which goes on answering; the result
    /// comes back through `reopened`.
    fn retry_audio(&mut self) {
        self.retry_at = None;
        if !matches!(self.audio, Audio::Lost) || self.reopening {
            return;
        }
        self.reopening = true;
        let reply = self.reopened_tx.clone();
        tokio::task::spawn_blocking(move || {
            // the task gone, the output is closed right here
            let _ = reply.blocking_send(AudioOut::open());
        });
    }

    /// A lost output was opened again, or not.
    fn reopened(&mut self, result: Reopened) {
        self.reopening = false;
        if !matches!(self.audio, Audio::Lost) {
            // the session ended, or a new one opened its own output
            if let Ok(out) = result {
                tokio::task::spawn_blocking(move || drop(out));
            }
            return;
        }
        match result {
            Ok(out) => {
                tracing::info!("the sound output is back");
                self.audio = Audio::Open(out);
                self.watch = Watch::default();
                self.retry_at = None;
                let auto = Config::load(&self.paths.config_file)
                    .map(|c| c.audio.auto_resume)
                    .unwrap_or(false);
                self.message = Some("The sound output is back; resume to carry on.".into());
                if auto {
                    let now = self.now();
                    match self.resume(now) {
                        Ok(_) => {
                            self.message =
                                Some("The sound output is back; the session resumed.".into())
                        }
                        Err(Refusal(_, why)) => tracing::warn!("cannot resume: {why}"),
                    }
                }
                self.publish(None);
            }
            Err(err) => {
                tracing::debug!("the sound output is still unavailable: {err}");
                self.retry_at = Some(self.now() + AUDIO_RETRY_MS);
            }
        }
    }

    /// What happened, and what cannot be written.
    fn message(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.message, &self.unsaved, &self.unlogged]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn status(&self) -> Status {
        let Some(active) = &self.active else {
            return Status {
                message: self.message(),
                ..Status::default()
            };
        };
        let plan: &Plan = active.session.plan();
        let status = active.session.status(self.now());
        Status {
            state: match status.state {
                State::Idle => SessionState::Idle,
                State::Running => SessionState::Running,
                State::Paused => SessionState::Paused,
                State::Waiting => SessionState::Waiting,
                State::Finished => SessionState::Finished,
            },
            routine: Some(status.routine),
            step: status.step,
            step_name: status.step_name,
            stretch: status.stretch,
            rep: status.rep,
            reps: status.reps,
            elapsed_ms: status.elapsed_ms,
            remaining_ms: status.remaining_ms,
            steps: Some(status.steps),
            step_elapsed_ms: status
                .step
                .map(|i| status.elapsed_ms.saturating_sub(plan.steps[i].start_ms)),
            step_remaining_ms: status.step_remaining_ms,
            message: self.message(),
        }
    }

    /// Tells every subscriber where the session is, with the cue just
    /// spoken if there is one.
    fn publish(&self, cue: Option<&SpokenCue>) {
        if self.updates.receiver_count() == 0 {
            return;
        }
        let _ = self.updates.send(Response::Update {
            status: self.status(),
            cue: cue.cloned(),
        });
    }
}

/// A planned cue as the live view shows it.
fn spoken(cue: &Cue) -> SpokenCue {
    SpokenCue {
        text: cue.text.clone(),
        // the name `plan --json` gives the kind
        kind: serde_json::to_value(cue.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        at_ms: cue.at_ms,
        duration_ms: cue.duration_ms,
    }
}

/// Opens the sound output. A device that is there but whose new stream
/// fails at once while starting (a sound server under load can report a
/// passing error then) is tried again a few times; no device at all, or
/// one that never starts, is final.
fn open_output() -> Result<AudioOut, AudioError> {
    let mut tries = 1;
    loop {
        match AudioOut::open() {
            Err(err @ (AudioError::Closed | AudioError::Open { .. })) if tries < OPEN_TRIES => {
                tracing::info!("opening the sound output failed ({err}); trying again");
                tries += 1;
            }
            result => return result,
        }
    }
}

fn read_routine(path: &Path) -> Result<Routine, Refusal> {
    routine::load_routine(path).map_err(Refusal::bad_input)
}

/// Plans the session with the real length of every clip (see
/// [`Voice::plan`]) and pairs every cue with its clip.
fn make_plan(
    routine: &Routine,
    options: &plan::Options,
    voice: &Arc<Voice>,
) -> Result<(Arc<Plan>, Clips), Refusal> {
    let plan = Arc::new(tokio::task::block_in_place(|| {
        voice.plan(routine, options).map_err(Refusal::bad_input)
    })?);
    let clips: Clips = Arc::new(plan.cues.iter().map(|_| OnceLock::new()).collect());
    // Clips are decoded in timeline order beside the session, so the first
    // cue waits only for its own clip; a cue due before its turn here
    // decodes its clip itself.
    let (voice, ahead, cues) = (Arc::clone(voice), Arc::clone(&clips), Arc::clone(&plan));
    let spawned = std::thread::Builder::new()
        .name("clips".into())
        .spawn(move || {
            for (slot, cue) in ahead.iter().zip(&cues.cues) {
                // the session ended: nobody else holds its clips
                if Arc::strong_count(&ahead) == 1 {
                    return;
                }
                slot.get_or_init(|| voice.cue_clip(cue));
            }
        });
    if let Err(err) = spawned {
        tracing::warn!("clips are decoded as they fall due: {err}");
    }
    Ok((plan, clips))
}

/// The clip of every cue of a plan, by index, decoded once when first
/// wanted.
type Clips = Arc<Vec<OnceLock<Clip>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_past_their_time_and_still_sounding_mean_a_stopped_stream() {
        let mut watch = Watch::default();
        // a 600 ms clip at 0 and a 400 ms one at 2000, 50 ms of output delay
        watch.played(0, 600, 50);
        watch.played(2_000, 400, 50);
        let first_done = 600 + 50 + STALL_MS;
        let second_done = 2_000 + 400 + 50 + STALL_MS;
        assert_eq!(watch.next(), Some(first_done));
        // before the first is due to have finished nothing is judged
        assert!(!watch.stalled(first_done - 1, 2));
        // the first is done: only the second may still sound
        assert!(!watch.stalled(first_done, 1));
        assert_eq!(watch.next(), Some(second_done));
        assert!(!watch.stalled(second_done, 0));
        assert_eq!(watch.next(), None);

        let mut watch = Watch::default();
        watch.played(0, 600, 50);
        watch.played(2_000, 400, 50);
        // the first is still sounding when it should long be over
        assert!(watch.stalled(first_done, 2));
    }

    #[test]
    fn a_probe_is_judged_like_a_clip() {
        let mut watch = Watch::default();
        watch.played(5_000, 0, 50);
        assert!(!watch.stalled(5_000 + 50 + STALL_MS, 0));
        let mut watch = Watch::default();
        watch.played(5_000, 0, 50);
        assert!(watch.stalled(5_000 + 50 + STALL_MS, 1));
    }
}
