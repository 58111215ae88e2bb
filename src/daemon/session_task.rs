//! The one task that owns the session. Connections and MPRIS send it each
//! [`Request`] through a [`super::session_handle::SessionHandle`]; it
//! sleeps until the session's next deadline, a message, news from the
//! sound output, or shutdown, whichever comes first. With no session
//! playing it has no deadline, so nothing wakes it.
//!
//! # While the sound output opens
//!
//! A sound server takes a second or two to open a stream, and up to half a
//! minute when the device is slow to start. That happens away from this
//! task (see [`SoundLink`]), which goes on answering: a session started (or
//! resumed) while the output opens is reported as running, but its clock
//! stands still at its position until the output is ready (or known to be
//! missing, when the session runs as text). Then the session starts, and
//! every cue keeps its offset from that start: the first cues are said when
//! they can be heard, none is dropped as stale for the wait.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::clips::{self, Clips};
use super::music::SessionMusic;
use super::options::session_options;
use super::records::Records;
use super::session_handle::{Message, Outcome};
use super::shutdown::Shutdown;
use super::sound_link::{self, LinkNews, Opened, SoundLink};
use crate::audio::{AudioError, CueSink};
use crate::config::Config;
use crate::history::{Entry, History};
use crate::lookup::find_routine;
use crate::ms::Ms;
use crate::paths::Paths;
use crate::plan::{self, Cue, Plan};
use crate::playback::{self, Clock, Handed, Playback};
use crate::protocol::{
    self, ErrorKind, LAST_KEPT_MS, MAX_CHANGE_MS, Request, Response, SessionState, SpokenCue,
    StartOptions, Status, Why,
};
use crate::routine::{self, Routine};
use crate::session::{Moved, RESUME_GAP, Session, State};
use crate::state::{self, Changes, Replan, SavedOptions, SavedSession};
use crate::voice::{Progress, Voice, VoiceSettings};

/// How many updates a subscriber may fall behind before it is sent a fresh
/// status instead of the ones it missed.
const UPDATE_BACKLOG: usize = 64;

/// How long a session may take to get ready (its phrases rendered by a
/// slow speech engine) before its start is given up. The client waits
/// longer than this for the answer, so it always hears how it went.
pub(super) const PREPARE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A request that waited this long for the task is refused, not carried
/// out: its client (which waits 10 s) may already have reported it failed.
const REQUEST_EXPIRY: std::time::Duration = std::time::Duration::from_secs(5);

/// What a session waiting for the sound output does once it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnReady {
    Start,
    Resume,
}

/// A start being made ready away from the task: the routine read, its
/// phrases rendered, its plan made. The session there is plays on
/// meanwhile; the client's answer waits here.
struct Preparing {
    id: u64,
    /// The routine as asked for.
    routine: String,
    progress: Arc<Progress>,
    deadline: Instant,
    asked: std::time::Instant,
    /// The client's sound environment, when it sent it.
    sound: Option<std::collections::BTreeMap<String, String>>,
    reply: oneshot::Sender<Outcome>,
}

/// What a preparation made, for the session numbered `id`.
struct Prepared {
    id: u64,
    result: Result<Ready, Refusal>,
}

/// A session ready to start.
struct Ready {
    path: PathBuf,
    /// The routine file's SHA-256, read before it was parsed.
    sha256: Option<String>,
    routine: Arc<Routine>,
    options: plan::Options,
    plan: Arc<Plan>,
    clips: Clips,
    /// The music under its cues, if any.
    music: SessionMusic,
    /// Whether it listens for spoken commands.
    listen: bool,
}

/// The work of a preparation, done on a blocking thread.
struct Job {
    paths: Paths,
    voice: Arc<Voice>,
    progress: Arc<Progress>,
    routine: String,
    options: StartOptions,
}

impl Job {
    fn run(self) -> Result<Ready, Refusal> {
        let path = find_routine(&self.routine, &self.paths).map_err(Refusal::bad_input)?;
        let path = path.canonicalize().unwrap_or(path);
        let config = Config::load(&self.paths.config_file).map_err(Refusal::bad_input)?;
        let music = if self.options.no_music {
            SessionMusic::none()
        } else {
            match self.options.music.as_ref().or(config.music.path.as_ref()) {
                None => SessionMusic::none(),
                Some(path) => {
                    let playlist =
                        crate::audio::Playlist::find(path).map_err(Refusal::bad_input)?;
                    SessionMusic::of(playlist, config.music.volume)
                }
            }
        };
        let mut options = session_options(&self.options, config.options());
        // read before it is parsed: a file changed in between gives a sum
        // it no longer has, so the session is never resumed onto it
        let sha256 = state::routine_sha256(&path).ok();
        let routine = read_routine(&path)?;
        if routine.course.is_some() {
            let history = History::new(self.paths.history_file());
            let done = history
                .read()
                .map(|log| log.sessions_done(&routine.name))
                .unwrap_or_else(|err| {
                    tracing::warn!("cannot read {}: {err}", history.path().display());
                    0
                });
            options.session_number = Some(done + 1);
        }
        // the session there is keeps its own clips; the voice lets go of
        // them, so that it holds only the new session's
        self.voice.forget();
        let (plan, clips) = clips::make_plan(&routine, &options, &self.voice, &self.progress)
            .map_err(Refusal::bad_input)?;
        Ok(Ready {
            path,
            sha256,
            routine: Arc::new(routine),
            options,
            plan,
            clips,
            music,
            listen: self.options.listen || config.listen.enabled,
        })
    }
}

/// A session in progress (or paused, or just finished).
#[derive(Debug)]
struct Active {
    /// The number [`Status::session`] gives it.
    id: u64,
    routine_path: PathBuf,
    /// The SHA-256 of the routine file it was planned from.
    routine_sha256: Option<String>,
    /// The routine as it was read when the session started: a change under
    /// way is planned from it, whatever the file says now.
    routine: Arc<Routine>,
    options: plan::Options,
    /// The changes made to the plan so far, saved to make it again.
    changes: Changes,
    /// The over-run said last, so that a skip says it only when it changes.
    said_over: Option<String>,
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
    /// Set while the sound output opens for this session, which stands
    /// still (paused) until then.
    on_ready: Option<OnReady>,
    /// When the session was asked to start, and when the output began to
    /// open for it, for the log.
    asked: std::time::Instant,
    opening_from: std::time::Instant,
    /// The music under the cues, if any.
    music: SessionMusic,
    /// Why it is paused, while it is.
    why: Option<Why>,
    /// Whether it listens for spoken commands.
    listen: bool,
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
    records: Records,
    /// Hands the due cues to the output, on the session clock.
    playback: Playback,
    active: Option<Active>,
    /// When the session next needs attention (clock ms), while it runs.
    wake: Option<Ms>,
    /// Said in the next status: what happened that the user should know.
    message: Option<String>,
    updates: broadcast::Sender<Response>,
    /// Phrase → clip, shared by every session of this daemon.
    voice: Arc<Voice>,
    /// The sound output and its health.
    link: SoundLink,
    /// Where openings of the output report, until [`SessionTask::run`]
    /// takes it.
    opened: Option<mpsc::Receiver<Opened>>,
    /// A start being made ready, if any.
    preparing: Option<Preparing>,
    /// Where preparations report, and where the task reads them until
    /// [`SessionTask::run`] takes it.
    prepared_tx: mpsc::UnboundedSender<Prepared>,
    prepared_rx: Option<mpsc::UnboundedReceiver<Prepared>>,
    /// The number of the next session.
    next_id: u64,
    /// Whether a session brought back (after a restart, or with `resume
    /// --last`) listens for spoken commands: `[listen] enabled`.
    listen_default: bool,
    /// What the listener says of the microphone, for the status.
    microphone: Arc<super::listening::Microphone>,
}

impl SessionTask {
    pub(super) fn new(paths: Paths, microphone: Arc<super::listening::Microphone>) -> SessionTask {
        // the daemon checked the configuration before it got here
        let config = Config::load(&paths.config_file).unwrap_or_default();
        let voice = Arc::new(Voice::new(VoiceSettings::from_config(
            &config.voice,
            &paths,
        )));
        let (link, opened) = SoundLink::new();
        let (prepared_tx, prepared_rx) = mpsc::unbounded_channel();
        SessionTask {
            preparing: None,
            prepared_tx,
            prepared_rx: Some(prepared_rx),
            next_id: 1,
            listen_default: config.listen.enabled,
            microphone,
            records: Records::new(&paths),
            paths,
            playback: Playback::new(Clock::start()),
            active: None,
            wake: None,
            message: None,
            updates: broadcast::channel(UPDATE_BACKLOG).0,
            voice,
            link,
            opened: Some(opened),
        }
    }

    fn now(&self) -> Ms {
        self.playback.clock().now()
    }

    /// Loads a session interrupted by a restart, as paused: only onto the
    /// routine it was planned from. One that cannot be resumed is set aside
    /// (kept), written in the history, and the status says why.
    pub(super) fn restore(&mut self) {
        let Some(saved) = self.records.interrupted() else {
            return;
        };
        // the daemon stopped between writing the history line that ends a
        // session and removing its saved position: it has ended
        if self.records.has_ended(&saved) {
            tracing::info!(
                "the saved session of {} is in the history: it ended before the restart, and is \
                 not brought back",
                saved.routine.display()
            );
            self.records.clear_saved();
            return;
        }
        let options = plan::Options::from(&saved.options);
        let voice = Arc::clone(&self.voice);
        let planned = tokio::task::block_in_place(|| {
            let sha256 = match state::routine_sha256(&saved.routine) {
                Ok(sum) => sum,
                Err(err) => {
                    return Err(format!(
                        "its routine file {} cannot be read ({err})",
                        saved.routine.display()
                    ));
                }
            };
            if saved
                .routine_sha256
                .as_ref()
                .is_some_and(|was| *was != sha256)
            {
                return Err(format!(
                    "its routine file {} was changed since the session was planned",
                    saved.routine.display()
                ));
            }
            let routine = read_routine(&saved.routine).map_err(|Refusal(_, why)| why)?;
            let (plan, _) = clips::make_plan(&routine, &options, &voice, &Progress::default())
                .map_err(|err| err.to_string())?;
            let plan = replay(&voice, &routine, &options, plan, &saved.changes.replans);
            let clips = clips::for_plan(&plan, &voice);
            Ok(((Arc::new(routine), plan, clips), sha256))
        });
        match planned {
            Ok(((routine, plan, clips), sha256)) => {
                tracing::info!(
                    "restored the session of {} at {} ms, paused",
                    plan.routine,
                    saved.offset_ms
                );
                self.message = Some(format!(
                    "The session of {} was interrupted; it is paused where it was. Resume to carry on.",
                    plan.routine
                ));
                let booked = booking(&options);
                self.active = Some(Active {
                    id: self.new_id(),
                    routine_path: saved.routine,
                    routine_sha256: Some(sha256),
                    routine,
                    options,
                    changes: saved.changes.clone(),
                    said_over: None,
                    session: Session::paused_at(plan, saved.offset_ms)
                        .with_booking(booked, saved.changes.skipped_ms)
                        .with_heard(saved.heard.clone()),
                    clips,
                    started_at_ms: saved.started_at_ms,
                    saved_at: None,
                    logged: false,
                    on_ready: None,
                    asked: std::time::Instant::now(),
                    opening_from: std::time::Instant::now(),
                    music: restored_music(&self.paths),
                    why: Some(Why::Restart),
                    listen: self.listen_default,
                });
            }
            Err(why) => self.unresumable(&saved, &why),
        }
    }

    /// A saved session that cannot be resumed: kept aside, logged, said.
    fn unresumable(&mut self, saved: &SavedSession, why: &str) {
        let name = saved
            .routine
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| saved.routine.display().to_string());
        let kept = match self.records.set_aside_saved() {
            Ok(aside) => format!("Its saved position is kept as {}.", aside.display()),
            Err(err) => {
                tracing::warn!("{err}");
                String::new()
            }
        };
        self.records.log(&Entry {
            routine: name.clone(),
            path: saved.routine.clone(),
            options: saved.options.clone(),
            started_at_ms: saved.started_at_ms,
            ended_at_ms: state::unix_ms_now(),
            steps_completed: 0,
            steps: 0,
            completed: false,
            note: Some(format!(
                "interrupted at {}, not resumed: {why}",
                crate::plan::HumanMs(saved.offset_ms)
            )),
            heard_ms: None,
            work_ms: None,
        });
        let said = format!(
            "The session of {name} was interrupted and cannot be resumed: {why}. {kept} It is \
             written in the history."
        );
        tracing::warn!("{said}");
        self.message = Some(said);
    }

    /// Runs until shutdown, then saves where the session is.
    pub(super) async fn run(mut self, mut inbox: mpsc::Receiver<Message>, mut shutdown: Shutdown) {
        let (Some(mut opened), Some(mut prepared)) = (self.opened.take(), self.prepared_rx.take())
        else {
            return;
        };
        loop {
            let next = [self.wake, self.link.next_wake()]
                .into_iter()
                .flatten()
                .min();
            let deadline = next.map(|ms| self.playback.clock().instant(ms));
            let overdue = self.preparing.as_ref().map(|p| p.deadline);
            tokio::select! {
                message = inbox.recv() => match message {
                    Some(message) => self.receive(message),
                    None => break,
                },
                Some(ready) = prepared.recv() => self.prepared(ready),
                () = tokio::time::sleep_until(overdue.unwrap_or_else(Instant::now)), if overdue.is_some() => {
                    self.prepare_overdue();
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.check_audio();
                    self.link.retry(self.now(), false);
                    self.pump();
                }
                Some(result) = opened.recv() => self.opened(result),
                () = shutdown.recv() => break,
            }
        }
        self.save_on_shutdown();
    }

    /// A message from a connection or MPRIS: answered now, or (a start)
    /// once its session is ready.
    fn receive(&mut self, message: Message) {
        let Message {
            request,
            session,
            sent,
            reply,
        } = message;
        // its client hung up before it was begun: nobody meant it any more
        if reply.is_closed() {
            tracing::info!("not carried out, its client has gone: {request:?}");
            return;
        }
        let refused = |kind, text: String| Outcome::Reply(Response::error(kind, text));
        if sent.elapsed() > REQUEST_EXPIRY {
            tracing::warn!(
                "refused {request:?}: it waited {} ms for its turn",
                sent.elapsed().as_millis()
            );
            let _ = reply.send(refused(
                ErrorKind::Failed,
                format!(
                    "the request waited more than {} s for its turn and was not carried out; \
                     ask again",
                    REQUEST_EXPIRY.as_secs()
                ),
            ));
            return;
        }
        if let Some(meant) = session
            && !matches!(request, Request::Status | Request::Subscribe)
        {
            let current = self.active.as_ref().map(|a| a.id);
            if current != Some(meant) {
                let now = match current {
                    Some(id) => format!("session {id} is the one there is now"),
                    None => "there is no session now".into(),
                };
                let _ = reply.send(refused(
                    ErrorKind::NotNow,
                    format!(
                        "the request was meant for session {meant}, which is over; {now}, \
                         and it was left alone"
                    ),
                ));
                return;
            }
        }
        match request {
            Request::Start { routine, options } => self.begin_start(routine, options, reply),
            request => {
                let _ = reply.send(self.handle(request));
            }
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Begins to make a session ready away from the task; the session
    /// there is plays on and requests are answered meanwhile. A start
    /// still being made ready gives way to this one.
    fn begin_start(
        &mut self,
        routine: String,
        options: StartOptions,
        reply: oneshot::Sender<Outcome>,
    ) {
        if let Err(Refusal(kind, message)) = self.may_replace(&options) {
            let _ = reply.send(Outcome::Reply(Response::error(kind, message)));
            return;
        }
        self.cancel_preparing("a later start took its place");
        let sound = options.sound.clone();
        let id = self.new_id();
        let progress = Arc::new(Progress::default());
        let job = Job {
            paths: self.paths.clone(),
            voice: Arc::clone(&self.voice),
            progress: Arc::clone(&progress),
            routine: routine.clone(),
            options,
        };
        let report = self.prepared_tx.clone();
        // a thread of its own, not the runtime's blocking pool: a daemon
        // shutting down never waits for a speech engine that hangs
        let spawned = std::thread::Builder::new()
            .name("prepare".into())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()))
                    .unwrap_or_else(|_| {
                        Err(Refusal(
                            ErrorKind::Failed,
                            "preparing the session failed unexpectedly; see the daemon's log"
                                .into(),
                        ))
                    });
                let _ = report.send(Prepared { id, result });
            });
        if let Err(err) = spawned {
            let _ = reply.send(Outcome::Reply(Response::error(
                ErrorKind::Failed,
                format!("cannot prepare the session: {err}"),
            )));
            return;
        }
        tracing::info!("preparing session {id}: {routine}");
        self.preparing = Some(Preparing {
            id,
            routine,
            progress,
            deadline: Instant::now() + PREPARE_TIMEOUT,
            asked: std::time::Instant::now(),
            sound,
            reply,
        });
        self.publish(None);
    }

    /// Gives up the start being made ready, if any, telling its client
    /// why.
    fn cancel_preparing(&mut self, why: &str) -> bool {
        let Some(preparing) = self.preparing.take() else {
            return false;
        };
        preparing.progress.cancel();
        tracing::info!("session {} not started: {why}", preparing.id);
        let _ = preparing.reply.send(Outcome::Reply(Response::error(
            ErrorKind::NotNow,
            format!(
                "the session of {} was not started: {why}",
                preparing.routine
            ),
        )));
        true
    }

    /// A preparation is done: its session starts, or its client hears why
    /// it cannot.
    fn prepared(&mut self, prepared: Prepared) {
        let Prepared { id, result } = prepared;
        // one given up on (replaced, stopped, overdue): its work is dropped
        let Some(preparing) = self.preparing.take_if(|p| p.id == id) else {
            return;
        };
        if preparing.reply.is_closed() {
            tracing::info!("session {id} not started: the client that asked for it has gone");
            self.publish(None);
            return;
        }
        let reply = match result {
            Ok(ready) => {
                let notes: Vec<String> = ready
                    .plan
                    .notes
                    .iter()
                    .cloned()
                    .chain(preparing.sound.as_ref().and_then(sound_differs))
                    .chain(self.replaced_note())
                    .collect();
                let notes = (!notes.is_empty()).then(|| notes.join("; "));
                self.install(id, ready, preparing.asked);
                self.pump();
                self.publish(None);
                self.ok(notes)
            }
            Err(Refusal(kind, message)) => {
                self.publish(None);
                Response::error(kind, message)
            }
        };
        let _ = preparing.reply.send(Outcome::Reply(reply));
    }

    /// The start being made ready took too long: it is given up.
    fn prepare_overdue(&mut self) {
        let Some(preparing) = self.preparing.take() else {
            return;
        };
        preparing.progress.cancel();
        let (ready, total) = preparing.progress.counts();
        let why = format!(
            "making the session of {} ready took longer than {} s ({ready} of {total} phrases \
             ready: the speech engine is slow); it was not started. The phrases made ready are \
             kept: start it again to carry on from them.",
            preparing.routine,
            PREPARE_TIMEOUT.as_secs()
        );
        tracing::warn!("session {}: {why}", preparing.id);
        let _ = preparing
            .reply
            .send(Outcome::Reply(Response::error(ErrorKind::Failed, why)));
        self.publish(None);
    }

    fn handle(&mut self, request: Request) -> Outcome {
        let now = self.now();
        let changes = !matches!(request, Request::Status);
        let result = match request {
            // started through [`SessionTask::begin_start`]
            Request::Start { .. } => Ok(None),
            Request::Status => Ok(None),
            Request::Subscribe => {
                let receiver = self.updates.subscribe();
                return Outcome::Subscribed(self.ok(None), receiver);
            }
            Request::Pause => self.pause(now),
            Request::Resume => self.resume(now),
            Request::ResumeLast => self.resume_last(now),
            Request::Toggle => {
                let running = self
                    .active
                    .as_ref()
                    .is_some_and(|a| a.session.state() == State::Running || a.on_ready.is_some());
                if running {
                    self.pause(now)
                } else {
                    self.resume(now)
                }
            }
            Request::Next => {
                fault_injection();
                self.jump(now, Session::next_stretch, Moved::Next)
            }
            Request::Prev => self.jump(now, Session::prev_stretch, Moved::Prev),
            Request::Repeat => self.jump(now, Session::repeat_stretch, Moved::Repeat),
            Request::NextStep => self.jump(now, Session::next_step, Moved::Next),
            Request::PrevStep => self.jump(now, Session::prev_step, Moved::Prev),
            Request::RepeatStep => self.jump(now, Session::repeat_step, Moved::RepeatStep),
            Request::More { ms } => self.change(now, ms, true),
            Request::Less { ms } => self.change(now, ms, false),
            Request::Stop => self.stop(now),
            Request::Say { text } => self.say_asked(now, &text),
            Request::Acknowledge { text } => {
                self.acknowledge(now, text.as_deref());
                Ok(None)
            }
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

    /// Whether a start may end the session there is: only with
    /// `replace`, so that a stray start never loses a session.
    fn may_replace(&self, options: &StartOptions) -> Result<(), Refusal> {
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
        Ok(())
    }

    /// What a start says of the session it replaces: how to bring it back.
    fn replaced_note(&self) -> Option<String> {
        let active = self.active.as_ref()?;
        matches!(
            active.session.state(),
            State::Running | State::Paused | State::Waiting
        )
        .then(|| {
            format!(
                "The session of {} was replaced; `massage-cue resume --last` brings it back \
                 within {}.",
                active.session.plan().routine,
                kept_for()
            )
        })
    }

    /// A session made ready takes the place of the one there is.
    fn install(&mut self, id: u64, ready: Ready, asked: std::time::Instant) {
        let now = self.now();
        // A session replaced by another keeps the open output: no second
        // wait for the sound server, no gap.
        let output = self.link.keep_for_next();
        // news of the last session's history line is old now; the session
        // this one replaces is written (or not) below
        self.records.forget_unlogged();
        self.end_session(now);
        if let Some(out) = output {
            self.link.put_back(out);
        }
        self.message = None;
        self.active = Some(Active {
            id,
            routine_path: ready.path,
            routine_sha256: ready.sha256,
            routine: ready.routine,
            options: ready.options,
            changes: Changes::default(),
            said_over: None,
            // stands still until the output is ready
            session: Session::paused_at(ready.plan, 0),
            clips: ready.clips,
            started_at_ms: state::unix_ms_now(),
            saved_at: None,
            logged: false,
            on_ready: Some(OnReady::Start),
            asked,
            opening_from: std::time::Instant::now(),
            music: ready.music,
            why: None,
            listen: ready.listen,
        });
        if self.link.open() {
            self.output_ready(Ok(()));
        } else {
            self.save(now);
        }
    }

    /// The output a session waits for is ready, or known to be missing
    /// (`sound` says so): the session starts or resumes now.
    fn output_ready(&mut self, sound: Result<(), String>) {
        let now = self.now();
        let Some(active) = &mut self.active else {
            return;
        };
        let Some(on_ready) = active.on_ready.take() else {
            return;
        };
        // a jump while the output opened moved the session on: carry on
        // from there as after a pause
        let on_ready = if active.session.position(now) > 0 {
            OnReady::Resume
        } else {
            on_ready
        };
        match on_ready {
            OnReady::Start => {
                let opened = active.opening_from.elapsed();
                // the first cue waits for its own clip, and only for it
                let plan = Arc::clone(active.session.plan());
                if let Some(cue) = plan.cues.first() {
                    let _ = active.clips.get(0, cue);
                }
                let now = self.playback.clock().now();
                active.session = Session::start(plan, now)
                    .with_booking(booking(&active.options), active.session.skipped());
                active
                    .music
                    .play(self.link.out(), self.playback.clock().instant(now));
                let delay = std::time::Duration::from_millis(self.link.start_delay_ms());
                tracing::info!(
                    "started {} from {}; first sound {} ms after the request, not counting {} ms \
                     opening the sound output",
                    active.session.plan().routine,
                    active.routine_path.display(),
                    (active.asked.elapsed().saturating_sub(opened) + delay).as_millis(),
                    opened.as_millis()
                );
                self.message = sound.err();
                self.save(now);
            }
            OnReady::Resume => {
                self.message = sound.err();
                if let Err(Refusal(_, why)) = self.carry_on() {
                    tracing::warn!("cannot resume: {why}");
                }
            }
        }
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
            // a session waiting for the output to start stays where it is
            active.on_ready = None;
            playback::pause(&mut active.session, now, self.link.out());
            active.music.pause(self.playback.clock().instant(now));
            active.why = Some(Why::Manual);
        }
        // what was said of the sound output is old news now
        self.message = None;
        self.save(now);
        Ok(None)
    }

    fn resume(&mut self, now: Ms) -> Result<Option<String>, Refusal> {
        if let Err(Refusal(kind, why)) = self.session_mut() {
            let hint = match self.records.last(state::unix_ms_now(), LAST_KEPT_MS) {
                Some(_) => {
                    "; the session stopped or replaced last comes back with \
                            `massage-cue resume --last`"
                }
                None => "",
            };
            return Err(Refusal(kind, format!("{why}{hint}")));
        }
        let active = self.session_mut()?;
        if active.session.state() == State::Running || active.on_ready.is_some() {
            return Ok(None);
        }
        let why = active.why.take();
        let Some(say) = active.session.resume_phrase(now) else {
            // the go signal at a waiting step: the next step is announced
            // at once, with nothing said about resuming
            active.session.resume(now, 0);
            self.message = None;
            self.save(now);
            return Ok(None);
        };
        if self.link.is_lost() {
            if let Some(active) = &mut self.active {
                active.why = why;
            }
            self.link.retry(now, true);
            return Err(Refusal(
                ErrorKind::NotNow,
                "the sound output is still unavailable; the session stays paused until it is back"
                    .into(),
            ));
        }
        // a session restored after a restart has no output yet: it resumes
        // once the output is ready (without a device, as text)
        if !self.link.open() {
            if let Some(active) = &mut self.active {
                active.on_ready = Some(OnReady::Resume);
            }
            self.message = None;
            return Ok(Some(say));
        }
        self.message = None;
        self.carry_on()?;
        Ok(Some(say))
    }

    /// Says where the paused session is and carries on from the start of
    /// that repetition.
    fn carry_on(&mut self) -> Result<(), Refusal> {
        let now = self.now();
        let Some(active) = &self.active else {
            return Ok(());
        };
        let Some(say) = active.session.resume_phrase(now) else {
            // a waiting step: nothing is said about resuming
            if let Some(active) = &mut self.active {
                active.session.resume(now, 0);
            }
            self.save(now);
            return Ok(());
        };
        let point = active.session.resume_point(now);
        let voice = Arc::clone(&self.voice);
        let clip = tokio::task::block_in_place(|| voice.clip(&say));
        let phrase_ms = clip.duration_ms();
        let now = self.now();
        if let Some(out) = self.link.out()
            && let Err(err) = out.play(&clip)
        {
            self.sound_lost(now, &err);
            return Err(Refusal(
                ErrorKind::Failed,
                format!("the sound output failed: {err}"),
            ));
        }
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        let at = self.playback.clock().instant(now);
        active.music.resume(self.link.out(), at);
        active.music.duck(at, phrase_ms);
        active.session.resume(now, phrase_ms);
        self.save(now);
        self.publish(Some(&SpokenCue {
            text: say,
            kind: "resume".into(),
            at_ms: point,
            duration_ms: phrase_ms,
        }));
        Ok(())
    }

    /// Moves the session, then says where it now is ("Next: Kneading,
    /// right side."), the plan standing still while that is said. A move
    /// held back (during the cautions, past the last step) says why
    /// instead, and the plan goes on from the cue it cut off.
    fn jump(
        &mut self,
        now: Ms,
        how: fn(&mut Session, Ms),
        moved: Moved,
    ) -> Result<Option<String>, Refusal> {
        let active = self.session_mut()?;
        how(&mut active.session, now);
        if let Some(notice) = active.session.take_notice() {
            self.link.silence();
            let said = self.say(now, notice, "notice");
            let said_until = self.now() + said;
            if let Some(active) = &mut self.active {
                active.session.notice_said_until(said_until);
                active.session.hold(now, said_until + RESUME_GAP);
            }
            self.after_change(now);
            return Ok(Some(notice.to_string()));
        }
        let booked = active.session.booked_total().is_some();
        let pos = active.session.position(now);
        let finished = active.session.state() == State::Finished;
        self.link.silence();
        self.message = None;
        // under a booking, the steps after are fitted again
        let over = if booked && !finished {
            match self.replan(now, pos, 0) {
                Ok(over) => over,
                Err(Refusal(_, why)) => {
                    tracing::warn!("cannot fit the rest of the session again: {why}");
                    None
                }
            }
        } else {
            None
        };
        let phrase = self
            .active
            .as_ref()
            .and_then(|a| a.session.where_phrase(now, moved));
        if let Some(phrase) = &phrase {
            let said = self.say(now, phrase, "move");
            let said_until = self.now() + said;
            if let Some(active) = &mut self.active {
                active.session.hold(now, said_until + RESUME_GAP);
            }
        }
        self.after_change(now);
        let over = self.say_over_run(now, over, false);
        Ok(match (phrase, over) {
            (Some(phrase), Some(over)) => Some(format!("{phrase} {over}")),
            (phrase, over) => phrase.or(over),
        })
    }

    /// `say TEXT` while a session is under way: said at once, the plan
    /// standing still while it is, as after a move, so that it never talks
    /// over a count (the cue it cut off is said again after it). A paused
    /// or waiting session has nothing to talk over. The client renders the
    /// phrase first, so it is usually in the speech cache by now.
    fn say_asked(&mut self, now: Ms, text: &str) -> Result<Option<String>, Refusal> {
        let text = text.trim();
        if let Some(why) = protocol::say_text_problem(text) {
            return Err(Refusal::bad_input(format!("say: {why}")));
        }
        let running = self.session_mut()?.session.state() == State::Running;
        if running {
            self.link.silence();
        }
        let said = self.say(now, text, "say");
        if running {
            let said_until = self.now() + said;
            if let Some(active) = &mut self.active {
                active.session.hold(now, said_until + RESUME_GAP);
            }
            self.after_change(now);
        }
        Ok(None)
    }

    /// `more` (`longer`) or `less` by `ms`: the work under way changes, and
    /// under a booking the steps after are fitted again. Says by how much
    /// the booking is missed when it cannot be kept.
    fn change(&mut self, now: Ms, ms: Ms, longer: bool) -> Result<Option<String>, Refusal> {
        let word = if longer { "more" } else { "less" };
        if !(1_000..=MAX_CHANGE_MS).contains(&ms) {
            return Err(Refusal::bad_input(format!(
                "{word}: {} is not a change it makes: give 1 second to {}",
                plan::HumanMs(ms),
                plan::HumanMs(MAX_CHANGE_MS)
            )));
        }
        let active = self.session_mut()?;
        let pos = active.session.position(now);
        let before = active.session.plan().step_at(pos).map(|s| {
            let step = &active.session.plan().steps[s];
            (s, step.end_ms - step.start_ms)
        });
        let signed = if longer { ms as i64 } else { -(ms as i64) };
        let over = self.replan(now, pos, signed)?;
        let Some(active) = &self.active else {
            return Ok(None);
        };
        let mut said = match before {
            Some((s, length)) => {
                let step = &active.session.plan().steps[s];
                let now_length = step.end_ms - step.start_ms;
                let changed = plan::HumanMs(now_length.abs_diff(length));
                let label = active
                    .session
                    .status(now)
                    .stretch
                    .map_or(String::new(), |st| format!(", {st}"));
                format!("{}{label}: {changed} {word}.", step.name)
            }
            None => String::new(),
        };
        self.pump();
        if let Some(over) = self.say_over_run(now, over, true) {
            said.push(' ');
            said.push_str(&over);
        }
        Ok(Some(said.trim().to_string()))
    }

    /// Changes the plan at `pos` by `change_ms` (0: fits it again to the
    /// booking only), and goes on with it from where the session is.
    /// Returns how far the booking is missed.
    fn replan(&mut self, now: Ms, pos: Ms, change_ms: i64) -> Result<Option<i64>, Refusal> {
        let voice = Arc::clone(&self.voice);
        let active = self.session_mut()?;
        let total_ms = active.session.booked_total();
        let adjusted = tokio::task::block_in_place(|| {
            plan::adjust(
                &active.routine,
                &active.options,
                &*voice,
                active.session.plan(),
                pos,
                change_ms,
                total_ms,
            )
        })
        .map_err(|err| Refusal(ErrorKind::NotNow, err.to_string()))?;
        let plan = Arc::new(adjusted.plan);
        active.changes.replans.push(Replan {
            at_ms: pos,
            change_ms,
            total_ms,
            values: plan.values.clone(),
        });
        active.clips = clips::for_plan(&plan, &voice);
        active.session.replace_plan(plan, now);
        Ok(adjusted.over_ms)
    }

    /// Says how far the booking will be missed, when by half a minute or
    /// more: always after `more` or `less` (`asked`), after a skip only
    /// when it differs from what was said last.
    fn say_over_run(&mut self, now: Ms, over: Option<i64>, asked: bool) -> Option<String> {
        let active = self.active.as_mut()?;
        let text = over.and_then(plan::wording::over_run);
        let new = text != active.said_over;
        active.said_over.clone_from(&text);
        let text = text.filter(|_| asked || new)?;
        let pos = active.session.position(now);
        let clip = tokio::task::block_in_place(|| self.voice.clip(&text));
        if let Some(out) = self.link.out()
            && let Err(err) = out.play(&clip)
        {
            self.sound_lost(now, &err);
            return Some(text);
        }
        self.publish(Some(&SpokenCue {
            text: text.clone(),
            kind: "notice".into(),
            at_ms: pos,
            duration_ms: clip.duration_ms(),
        }));
        Some(text)
    }

    /// A spoken command was heard: a short soft sound, then `text` said
    /// (both outside the plan, at once), shown in the live view.
    fn acknowledge(&mut self, now: Ms, text: Option<&str>) {
        let rate = self.voice.rate();
        let mut parts = vec![crate::clip::Clip::earcon(rate)];
        if let Some(text) = text {
            let voice = Arc::clone(&self.voice);
            parts.push(tokio::task::block_in_place(|| voice.clip(text)));
        }
        let clip = crate::clip::Clip::joined(&parts, &[120], rate);
        if let Some(out) = self.link.out()
            && let Err(err) = out.play(&clip)
        {
            self.sound_lost(now, &err);
            return;
        }
        let at_ms = self.active.as_ref().map_or(0, |a| a.session.position(now));
        self.publish(Some(&SpokenCue {
            text: text.unwrap_or("(heard)").to_owned(),
            kind: "heard".into(),
            at_ms,
            duration_ms: clip.duration_ms(),
        }));
    }

    /// Says `text` at once, outside the plan (the output plays it now), and
    /// shows it in the live view as a cue of `kind`; how long it lasts.
    fn say(&mut self, now: Ms, text: &str, kind: &str) -> Ms {
        let voice = Arc::clone(&self.voice);
        let clip = tokio::task::block_in_place(|| voice.clip(text));
        let said_ms = clip.duration_ms();
        if let Some(out) = self.link.out()
            && let Err(err) = out.play(&clip)
        {
            self.sound_lost(now, &err);
            return 0;
        }
        let at_ms = self.active.as_ref().map_or(0, |a| a.session.position(now));
        self.publish(Some(&SpokenCue {
            text: text.to_owned(),
            kind: kind.to_owned(),
            at_ms,
            duration_ms: said_ms,
        }));
        said_ms
    }

    /// Brings back the session stopped or replaced last and resumes it; a
    /// session under way is kept in its place, so that pressing again
    /// swaps them back.
    fn resume_last(&mut self, now: Ms) -> Result<Option<String>, Refusal> {
        let Some(saved) = self.records.last(state::unix_ms_now(), LAST_KEPT_MS) else {
            return Err(Refusal(
                ErrorKind::NotNow,
                format!(
                    "no session was stopped or replaced within the last {}; start one with \
                     `massage-cue start ROUTINE`",
                    kept_for()
                ),
            ));
        };
        let options = plan::Options::from(&saved.options);
        let sha256 = state::routine_sha256(&saved.routine).ok();
        if saved.routine_sha256.is_some() && sha256 != saved.routine_sha256 {
            return Err(Refusal(
                ErrorKind::NotNow,
                format!(
                    "{} has changed since the session was stopped; start it again with \
                     `massage-cue start`",
                    saved.routine.display()
                ),
            ));
        }
        let routine = read_routine(&saved.routine)?;
        self.voice.forget();
        let (plan, clips) = clips::make_plan(&routine, &options, &self.voice, &Progress::default())
            .map_err(Refusal::bad_input)?;
        let output = self.link.keep_for_next();
        self.records.clear_last();
        self.records.forget_unlogged();
        self.end_session(now);
        if let Some(out) = output {
            self.link.put_back(out);
        }
        tracing::info!(
            "brought back the session of {} at {} ms",
            plan.routine,
            saved.offset_ms
        );
        self.message = None;
        let booked = booking(&options);
        let id = self.new_id();
        self.active = Some(Active {
            id,
            routine_path: saved.routine,
            routine_sha256: sha256,
            routine: Arc::new(routine),
            changes: Changes::default(),
            said_over: None,
            options,
            session: Session::paused_at(plan, saved.offset_ms)
                .with_booking(booked, 0)
                .with_heard(saved.heard),
            clips,
            started_at_ms: saved.started_at_ms,
            saved_at: None,
            logged: false,
            on_ready: None,
            asked: std::time::Instant::now(),
            opening_from: std::time::Instant::now(),
            music: restored_music(&self.paths),
            why: Some(Why::Manual),
            listen: self.listen_default,
        });
        self.save(now);
        self.resume(now)
    }

    fn stop(&mut self, now: Ms) -> Result<Option<String>, Refusal> {
        let cancelled = self.cancel_preparing("it was stopped before it was ready");
        if cancelled && self.session_mut().is_err() {
            self.message = Some("The session being made ready was stopped.".into());
            return Ok(None);
        }
        self.session_mut()?;
        self.end_session(now);
        self.voice.forget();
        self.message = Some(format!(
            "Session stopped. `massage-cue resume --last` (or play on a media key) brings it \
             back within {}.",
            kept_for()
        ));
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
            let Some(Active {
                session,
                clips,
                music,
                ..
            }) = &mut self.active
            else {
                return;
            };
            let plan = Arc::clone(session.plan());
            let handover = self.playback.hand_over(session, now, self.link.out(), |i| {
                clips.get(i, &plan.cues[i])
            });
            match handover.map(|h| h.next) {
                Ok(Handed::Cue { cue, due, clip_ms }) => {
                    if clip_ms > 0 {
                        music.duck(self.playback.clock().instant(due), clip_ms);
                    }
                    let spoken = spoken(&session.plan().cues[cue]);
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
            active.music.end(self.playback.clock().instant(now));
            self.log(now, true);
            self.records.clear_saved();
            // the last clips and the music's fade out sound to their end
            self.link.close(true);
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
        self.records.save(&SavedSession {
            format: state::FORMAT,
            routine: active.routine_path.clone(),
            options: SavedOptions::from(&active.options),
            offset_ms,
            paused: active.session.state() != State::Running,
            started_at_ms: active.started_at_ms,
            routine_sha256: active.routine_sha256.clone(),
            changes: Changes {
                replans: active.changes.replans.clone(),
                skipped_ms: active.session.skipped(),
            },
            heard: active.session.heard(now),
            ended_at_ms: None,
        });
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
        self.records.log(&Entry {
            routine: plan.routine.clone(),
            path: active.routine_path.clone(),
            options: SavedOptions::from(&active.options),
            started_at_ms: active.started_at_ms,
            ended_at_ms: state::unix_ms_now(),
            steps_completed: plan.steps.iter().filter(|s| s.end_ms <= at).count(),
            steps: plan.steps.len(),
            completed,
            note: None,
            heard_ms: Some(active.session.heard_work_ms(now)),
            work_ms: Some(active.session.work_ms()),
        });
    }

    /// Ends the session there is (stopped, or replaced by a new one).
    fn end_session(&mut self, now: Ms) {
        let Some(active) = &self.active else { return };
        if active.session.state() != State::Finished {
            // kept, to be brought back with `resume --last`
            self.records.keep_last(&SavedSession {
                format: state::FORMAT,
                routine: active.routine_path.clone(),
                options: SavedOptions::from(&active.options),
                offset_ms: active.session.resume_point(now),
                paused: true,
                started_at_ms: active.started_at_ms,
                routine_sha256: active.routine_sha256.clone(),
                changes: Changes::default(),
                heard: active.session.heard(now),
                ended_at_ms: Some(state::unix_ms_now()),
            });
            self.log(now, false);
        }
        self.active = None;
        self.wake = None;
        self.link.close(false);
        self.records.clear_saved();
    }

    /// Lets go of a finished session's clips, and of every clip the voice
    /// resolved, so that a daemon running for months does not grow with
    /// each session it plays. The last clips sounding out hold their own
    /// samples.
    fn forget_clips(&mut self) {
        if let Some(active) = &mut self.active {
            active.clips = Clips::none(Arc::clone(&self.voice));
        }
        self.voice.forget();
    }

    /// On shutdown, a session under way is saved to be carried on later.
    fn save_on_shutdown(&mut self) {
        if let Some(preparing) = self.preparing.take() {
            preparing.progress.cancel();
            let _ = preparing.reply.send(Outcome::Reply(Response::error(
                ErrorKind::Failed,
                format!(
                    "the daemon is shutting down; the session of {} was not started",
                    preparing.routine
                ),
            )));
        }
        let now = self.now();
        let Some(active) = &mut self.active else {
            return;
        };
        if active.session.state() == State::Finished {
            return;
        }
        playback::pause(&mut active.session, now, self.link.out());
        active.music.pause(self.playback.clock().instant(now));
        self.save(now);
        tracing::info!("saved the session's position for the next start");
    }

    /// The sound output failed mid-session: pause, keep the daemon going,
    /// and try the output again every few seconds.
    fn sound_lost(&mut self, now: Ms, err: &AudioError) {
        self.link.lose(now, err);
        self.wake = None;
        if let Some(active) = &mut self.active {
            active.session.pause(now);
            active.music.lost();
            active.why = Some(Why::SoundLost);
        }
        self.message = Some(format!(
            "The sound output was lost ({err}); the session is paused where it was. \
             It is tried again every {} s.",
            sound_link::RETRY_MS / 1000
        ));
        self.save(now);
    }

    /// Looks whether the open output still plays; a stream that has
    /// stopped is lost, like one that fails.
    fn check_audio(&mut self) {
        let now = self.now();
        let running = self
            .active
            .as_ref()
            .is_some_and(|a| a.session.state() == State::Running);
        if let Some(err) = self.link.check(now, running) {
            self.sound_lost(now, &err);
            self.publish(None);
        }
    }

    /// An opening of the sound output came back.
    fn opened(&mut self, result: Opened) {
        let now = self.now();
        match self.link.opened(result, now) {
            LinkNews::Nothing => return,
            LinkNews::Ready(sound) => {
                self.output_ready(sound);
                self.pump();
            }
            LinkNews::Back => self.sound_back(),
        }
        self.publish(None);
    }

    /// A lost output is back, or one the session started without. A
    /// session paused because it was lost resumes by itself, saying where
    /// it is ("Resuming: …"), unless `[audio] auto_resume = false`; one
    /// running as text sounds from its next cue.
    fn sound_back(&mut self) {
        let Some(active) = &self.active else {
            return;
        };
        let lost_here =
            active.session.state() == State::Paused && active.why == Some(Why::SoundLost);
        if !lost_here {
            if active.session.state() != State::Finished {
                self.message = Some("The sound output is back; the cues sound again.".into());
            }
            return;
        }
        let auto = Config::load(&self.paths.config_file)
            .map(|c| c.audio.auto_resume)
            .unwrap_or(true);
        self.message = Some("The sound output is back; resume to carry on.".into());
        if auto {
            let now = self.now();
            match self.resume(now) {
                Ok(_) => {
                    tracing::info!("the session resumed by itself now that sound is back");
                    self.message = Some("The sound output is back; the session resumed.".into())
                }
                Err(Refusal(_, why)) => tracing::warn!("cannot resume: {why}"),
            }
        }
    }

    /// What happened, and what cannot be written.
    fn message(&self) -> Option<String> {
        let opening = self
            .active
            .as_ref()
            .is_some_and(|a| a.on_ready.is_some())
            .then_some("The sound output is opening; the session goes on as soon as it is ready.");
        let preparing = self.preparing.as_ref().map(|p| {
            let (ready, total) = p.progress.counts();
            if total == 0 {
                format!("Making the session of {} ready.", p.routine)
            } else {
                format!(
                    "Making the session of {} ready: {ready} of {total} phrases ready.",
                    p.routine
                )
            }
        });
        // a session paused on request says so, and nothing older
        let paused = self
            .active
            .as_ref()
            .is_some_and(|a| a.why == Some(Why::Manual) && a.session.state() == State::Paused)
            .then_some("Paused on request (pause, toggle or a media key); resume to carry on.");
        let parts: Vec<&str> = preparing
            .as_deref()
            .into_iter()
            .chain(opening)
            .chain(paused)
            .chain(self.message.as_deref())
            .chain(self.records.troubles())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn status(&self) -> Status {
        let Some(active) = &self.active else {
            return Status {
                message: self.message(),
                preparing: self.preparing(),
                ..Status::default()
            };
        };
        let plan: &Plan = active.session.plan();
        let status = active.session.status(self.now());
        Status {
            // a session waiting for its output counts as running: it goes
            // on by itself as soon as the output is ready
            state: match status.state {
                _ if active.on_ready.is_some() => SessionState::Running,
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
            ends_at_ms: matches!(
                status.state,
                State::Running | State::Paused | State::Waiting
            )
            .then(|| state::unix_ms_now() + status.remaining_ms),
            booked_ms: booking(&active.options),
            over_ms: active.session.over_ms(),
            message: self.message(),
            session: Some(active.id),
            preparing: self.preparing(),
            why: match status.state {
                State::Paused if active.on_ready.is_none() => active.why,
                State::Waiting => Some(Why::WaitStep),
                _ => None,
            },
            listening: (active.listen
                && matches!(
                    status.state,
                    State::Running | State::Paused | State::Waiting
                ))
            .then(|| self.microphone.said()),
        }
    }

    /// The start being made ready, for the status.
    fn preparing(&self) -> Option<protocol::Preparing> {
        self.preparing.as_ref().map(|p| {
            let (phrases_ready, phrases) = p.progress.counts();
            protocol::Preparing {
                routine: p.routine.clone(),
                phrases_ready,
                phrases,
            }
        })
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

/// How long a stopped or replaced session is kept, in words.
fn kept_for() -> String {
    match LAST_KEPT_MS / 3_600_000 {
        1 => "1 hour".into(),
        hours => format!("{hours} hours"),
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

/// What to say when the client's sound environment is not the daemon's:
/// the daemon's sessions sound where it was started, which may be nowhere
/// the client can hear.
fn sound_differs(client: &std::collections::BTreeMap<String, String>) -> Option<String> {
    let daemon = protocol::sound_environment();
    if *client == daemon {
        return None;
    }
    let show = |env: &std::collections::BTreeMap<String, String>| {
        if env.is_empty() {
            "none of PULSE_SERVER, PULSE_SINK, PIPEWIRE_REMOTE set".to_owned()
        } else {
            env.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    Some(format!(
        "the daemon was started with another sound environment ({}) than this terminal's ({}), \
         and its sessions sound where it was started; to use this terminal's, run \
         `massage-cue daemon restart` here",
        show(&daemon),
        show(client)
    ))
}

/// In a debug build only, `MASSAGE_CUE_FAULT=panic-on-next` makes the task
/// panic at `next`, so tests can check what a failing task leaves behind.
/// Release builds have no such switch.
fn fault_injection() {
    #[cfg(debug_assertions)]
    if std::env::var_os("MASSAGE_CUE_FAULT").is_some_and(|f| f == "panic-on-next") {
        panic!("fault injected: MASSAGE_CUE_FAULT=panic-on-next");
    }
}

/// The length booked for a session: `start --length`, not a length the
/// configuration prefers.
fn booking(options: &plan::Options) -> Option<Ms> {
    options.length.filter(|_| !options.length_preferred)
}

/// `plan` with the changes made while it ran made again, in order; the
/// first that cannot be made ends the replay, with a warning. Blocks while
/// the voice renders phrases: call it where blocking is allowed.
fn replay(
    voice: &Voice,
    routine: &Routine,
    options: &plan::Options,
    mut plan: Arc<Plan>,
    replans: &[Replan],
) -> Arc<Plan> {
    for replan in replans {
        let made = if replan.values.is_empty() {
            plan::adjust(
                routine,
                options,
                voice,
                &plan,
                replan.at_ms,
                replan.change_ms,
                replan.total_ms,
            )
            .map(|adjusted| adjusted.plan)
        } else {
            plan::replay(
                routine,
                options,
                voice,
                &plan,
                replan.at_ms,
                replan.change_ms,
                &replan.values,
            )
        };
        match made {
            Ok(made) => plan = Arc::new(made),
            Err(err) => {
                tracing::warn!("the session's changes cannot be made again: {err}");
                break;
            }
        }
    }
    plan
}

/// The music of a session restored after a restart: the configuration's,
/// if it names any that can play (what the session was started with is not
/// kept).
fn restored_music(paths: &Paths) -> SessionMusic {
    let config = Config::load(&paths.config_file).unwrap_or_default();
    match config.music.path.map(|p| crate::audio::Playlist::find(&p)) {
        Some(Ok(playlist)) => SessionMusic::of(playlist, config.music.volume),
        Some(Err(err)) => {
            tracing::warn!("the restored session has no music: {err}");
            SessionMusic::none()
        }
        None => SessionMusic::none(),
    }
}

fn read_routine(path: &Path) -> Result<Routine, Refusal> {
    routine::load_routine(path).map_err(Refusal::bad_input)
}
