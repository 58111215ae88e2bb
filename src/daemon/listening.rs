//! Spoken commands in the daemon: while a session that listens is under
//! way, a thread records the microphone and feeds the recogniser; what it
//! hears goes to the session task as the socket's requests do, through a
//! [`SessionHandle`], so there is one path for control.
//!
//! The daemon does not listen to itself: every cue it hands to the output
//! (the updates stream says which, and how long it lasts) closes the
//! [`Gate`] until the cue has sounded and a short tail after it; what the
//! microphone records meanwhile reaches the recogniser as silence. A
//! microphone that goes away is tried again every [`RETRY`]; the status
//! says so meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use super::session_handle::{Outcome, SessionHandle};
use super::shutdown::Shutdown;
use crate::config::{Config, ListenConfig};
use crate::listen::{Action, Command, GATE_TAIL, Gate, Heard, StopGuard, time_left};
use crate::paths::Paths;
use crate::protocol::{DEFAULT_CHANGE_MS, Request, Response, Status};

/// How often a microphone that is missing is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// What the listener says of the microphone, for the status.
#[derive(Debug, Default)]
pub(super) struct Microphone {
    said: Mutex<Option<String>>,
}

impl Microphone {
    /// How listening goes, in words.
    pub(super) fn said(&self) -> String {
        self.said
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "starting to listen for spoken commands".into())
    }

    fn say(&self, said: Option<String>) {
        *self.said.lock().unwrap_or_else(PoisonError::into_inner) = said;
    }
}

/// A command heard, and when.
#[derive(Debug)]
struct HeardAt {
    heard: Heard,
    at: Instant,
}

/// The recording thread, while one runs.
#[derive(Debug)]
struct Worker {
    stop: Arc<AtomicBool>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Listens while a session that asks for it is under way, until shutdown.
pub(super) async fn serve(
    session: SessionHandle,
    paths: Paths,
    microphone: Arc<Microphone>,
    mut shutdown: Shutdown,
) {
    let (status, mut updates) = match session.ask(Request::Subscribe).await {
        Outcome::Subscribed(Response::Ok { status, .. }, updates) => (status, updates),
        _ => return,
    };
    let gate = Arc::new(Mutex::new(Gate::default()));
    let (heard_tx, mut heard_rx) = mpsc::channel::<HeardAt>(8);
    let mut worker: Option<Worker> = None;
    let mut guard = StopGuard::default();
    let mut wanted = wants(&status);
    loop {
        match (wanted, worker.is_some()) {
            (true, false) => {
                let config = Config::load(&paths.config_file)
                    .map(|c| c.listen)
                    .unwrap_or_default();
                microphone.say(None);
                worker = Some(start(
                    config,
                    Arc::clone(&gate),
                    heard_tx.clone(),
                    Arc::clone(&microphone),
                ));
            }
            (false, true) => {
                worker = None;
                microphone.say(None);
                tracing::info!("stopped listening for spoken commands");
            }
            _ => {}
        }
        tokio::select! {
            update = updates.recv() => match update {
                Ok(Response::Update { status, cue }) => {
                    if let Some(cue) = cue {
                        let (now, length) = (Instant::now(), Duration::from_millis(cue.duration_ms));
                        gate.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .cue(now, length);
                        // "Say stop again": heard only once it is said
                        guard.speaking_until(now + length + GATE_TAIL);
                    }
                    wanted = wants(&status);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Outcome::Reply(Response::Ok { status, .. }) =
                        session.ask(Request::Status).await
                    {
                        wanted = wants(&status);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(heard) = heard_rx.recv() => {
                act(&session, &mut guard, heard).await;
            }
            () = shutdown.recv() => break,
        }
    }
}

/// Whether the session under way listens.
fn wants(status: &Status) -> bool {
    status.listening.is_some()
}

/// Starts the recording thread.
fn start(
    config: ListenConfig,
    gate: Arc<Mutex<Gate>>,
    heard: mpsc::Sender<HeardAt>,
    microphone: Arc<Microphone>,
) -> Worker {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let spawned = std::thread::Builder::new()
        .name("massage-cue-listen".into())
        .spawn(move || record(&config, &gate, &heard, &microphone, &stopped));
    if let Err(err) = spawned {
        tracing::warn!("cannot listen for spoken commands: {err}");
    }
    Worker { stop }
}

/// The recording thread: the microphone into the recogniser until told to
/// stop.
#[cfg(feature = "listen")]
fn record(
    config: &ListenConfig,
    gate: &Mutex<Gate>,
    heard: &mpsc::Sender<HeardAt>,
    microphone: &Microphone,
    stop: &AtomicBool,
) {
    use crate::listen::RATE;
    use crate::listen::capture::Capture;
    use crate::listen::recogniser::Recogniser;

    let mut recogniser = match Recogniser::new(&config.wake_word) {
        Ok(recogniser) => recogniser,
        Err(err) => {
            tracing::warn!("cannot listen for spoken commands: {err}");
            microphone.say(Some(format!("not listening: {err}")));
            return;
        }
    };
    let source = config.source.as_deref();
    let which = source.map_or("the default microphone".to_owned(), str::to_owned);
    let mut samples = Vec::new();
    // the microphone went away, and whether listening was said
    let mut lost = false;
    let mut said = false;
    while !stop.load(Ordering::Relaxed) {
        let mut capture = match Capture::open(source) {
            Ok(capture) => capture,
            Err(err) => {
                missing(microphone, &which, &err.to_string(), &mut lost);
                pause(stop, RETRY);
                continue;
            }
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if let Err(err) = capture.read(&mut samples) {
                missing(microphone, &which, &err.to_string(), &mut lost);
                pause(stop, RETRY);
                break;
            }
            if lost || !said {
                said = true;
                if lost {
                    tracing::info!("the microphone is back: listening on {which}");
                } else {
                    tracing::info!("listening for spoken commands on {which}");
                }
                lost = false;
                microphone.say(Some(format!(
                    "listening on {which}: say \"{} pause\", \"{} continue\", …",
                    config.wake_word, config.wake_word
                )));
            }
            let until = Instant::now();
            let length = Duration::from_secs_f64(samples.len() as f64 / f64::from(RATE));
            let from = until.checked_sub(length).unwrap_or(until);
            if gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .closed(from, until)
            {
                samples.fill(0);
            }
            match recogniser.feed(&samples) {
                Ok(Some(detection)) => {
                    let _ = heard.blocking_send(HeardAt {
                        heard: detection.heard,
                        at: Instant::now(),
                    });
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!("spoken commands stopped: {err}");
                    microphone.say(Some(format!("not listening: {err}")));
                    return;
                }
            }
        }
    }
}

/// Without the recogniser built in, the status says so.
#[cfg(not(feature = "listen"))]
fn record(
    _config: &ListenConfig,
    _gate: &Mutex<Gate>,
    _heard: &mpsc::Sender<HeardAt>,
    microphone: &Microphone,
    _stop: &AtomicBool,
) {
    tracing::warn!("cannot listen: this massage-cue was built without spoken commands");
    microphone.say(Some(
        "not listening: this massage-cue was built without spoken commands (the `listen` feature)"
            .into(),
    ));
}

/// The microphone is missing or went away: said once in the log, and in
/// the status until it is back.
#[cfg(feature = "listen")]
fn missing(microphone: &Microphone, which: &str, why: &str, lost: &mut bool) {
    if !*lost {
        tracing::warn!(
            "no microphone ({which}): {why}; trying again every {} s",
            RETRY.as_secs()
        );
    }
    *lost = true;
    microphone.say(Some(format!(
        "not listening: {which} is unavailable ({why}); trying again every {} s",
        RETRY.as_secs()
    )));
}

/// Waits `time`, or less when told to stop.
#[cfg(feature = "listen")]
fn pause(stop: &AtomicBool, time: Duration) {
    let until = Instant::now() + time;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Carries out what was heard, as the socket's requests are.
async fn act(session: &SessionHandle, guard: &mut StopGuard, heard: HeardAt) {
    let action = guard.action(heard.heard, heard.at);
    tracing::info!("heard {:?}: {action:?}", heard.heard);
    let ask = |request: Request| async move {
        if let Outcome::Reply(Response::Error { message, .. }) = session.ask(request.clone()).await
        {
            tracing::info!("the spoken {request:?} was not carried out: {message}");
            return false;
        }
        true
    };
    let acknowledge = |text: Option<String>| ask(Request::Acknowledge { text });
    match action {
        // moves and resuming say where the session is: that is the answer
        Action::Do(Command::Resume) => {
            ask(Request::Resume).await;
        }
        Action::Do(Command::Next) => {
            ask(Request::Next).await;
        }
        Action::Do(Command::Back) => {
            ask(Request::Prev).await;
        }
        Action::Do(Command::Again) => {
            ask(Request::Repeat).await;
        }
        Action::Do(Command::Pause) => {
            if ask(Request::Pause).await {
                acknowledge(None).await;
            }
        }
        Action::Do(Command::More) => {
            if ask(Request::More {
                ms: DEFAULT_CHANGE_MS,
            })
            .await
            {
                acknowledge(Some("A minute more.".into())).await;
            }
        }
        Action::Do(Command::Less) => {
            if ask(Request::Less {
                ms: DEFAULT_CHANGE_MS,
            })
            .await
            {
                acknowledge(Some("A minute less.".into())).await;
            }
        }
        Action::Do(Command::HowLong) => {
            if let Outcome::Reply(Response::Ok { status, .. }) = session.ask(Request::Status).await
                && status.routine.is_some()
            {
                acknowledge(Some(time_left(status.remaining_ms))).await;
            }
        }
        Action::Do(Command::Stop) | Action::StopAsked => {
            ask(Request::Pause).await;
            acknowledge(Some("Paused. Say stop again to end the session.".into())).await;
        }
        Action::StopConfirmed => {
            acknowledge(Some("Stopping.".into())).await;
            // heard before the output closes
            tokio::time::sleep(Duration::from_millis(900)).await;
            ask(Request::Stop).await;
        }
    }
}
