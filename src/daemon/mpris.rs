//! MPRIS2 on the session D-Bus, so that media keys, a Bluetooth remote and
//! the desktop's media controls reach the daemon: play/pause, next,
//! previous and stop, with the session shown as what is playing.
//!
//! Every control goes to the session task through a [`SessionHandle`], as a
//! socket connection's requests do, so there is one path for control. The
//! player's state is read from the session task too; the stream of updates
//! is only watched to tell D-Bus listeners when something they show has
//! changed.
//!
//! Without a session bus (a login over ssh, a system service) the daemon
//! runs without MPRIS and says so once in its log.

use std::time::Duration;

use mpris_server::zbus::{self, fdo};
use mpris_server::{
    LoopStatus, Metadata, PlaybackRate, PlaybackStatus, PlayerInterface, Property, RootInterface,
    Server, Signal, Time, TrackId, Volume,
};
use tokio::sync::broadcast;

use super::session_handle::{Outcome, SessionHandle};
use super::shutdown::Shutdown;
use crate::protocol::{ErrorKind, Request, Response, SessionState, Status};

/// The bus name is `org.mpris.MediaPlayer2.massage-cue`; `playerctl -p
/// massage-cue` finds it. One daemon runs per user, so no instance suffix
/// is needed.
const BUS_NAME_SUFFIX: &str = "massage-cue";

/// How long connecting to the session bus may take before the daemon goes
/// on without it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the session bus is tried again after it went away.
const RECONNECT: Duration = Duration::from_secs(5);

/// Serves MPRIS until shutdown. Returns at once, after one line in the
/// log, when there is no session bus to serve on. When the bus goes away
/// later (the desktop session's bus restarted), the daemon says so in its
/// log and tries it again every [`RECONNECT`] until it is back.
pub(super) async fn serve(session: SessionHandle, mut shutdown: Shutdown) {
    let mut server = match connect(&session).await {
        Ok(server) => server,
        Err(why) => {
            tracing::info!("no MPRIS media controls{why}");
            return;
        }
    };
    tracing::info!("MPRIS media controls on {}", server.bus_name());
    loop {
        if !serve_on(&server, &session, &mut shutdown).await {
            return;
        }
        drop(server);
        tracing::warn!(
            "MPRIS media controls lost: the session D-Bus went away; trying it again every {} s",
            RECONNECT.as_secs()
        );
        let mut said = None;
        server = loop {
            tokio::select! {
                () = tokio::time::sleep(RECONNECT) => {}
                () = shutdown.recv() => return,
            }
            // a bus that hangs does not hold up shutdown
            let tried = tokio::select! {
                tried = connect(&session) => tried,
                () = shutdown.recv() => return,
            };
            match tried {
                Ok(server) => break server,
                // each new reason once, not every few seconds
                Err(why) if said.as_ref() != Some(&why) => {
                    tracing::info!("still no MPRIS media controls{why}");
                    said = Some(why);
                }
                Err(_) => {}
            }
        };
        tracing::info!("MPRIS media controls on {} again", server.bus_name());
    }
}

/// Connects to the session bus and takes the player's name there; why not,
/// in words that follow "no MPRIS media controls".
async fn connect(session: &SessionHandle) -> Result<Server<Player>, String> {
    let player = Player {
        session: session.clone(),
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, Server::new(BUS_NAME_SUFFIX, player)).await {
        Ok(Ok(server)) => Ok(server),
        Ok(Err(err)) => Err(format!(" on the session D-Bus: {err}")),
        Err(_) => Err(format!(
            ": the session D-Bus did not answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// What woke the MPRIS loop.
enum Woken {
    /// The session changed.
    Changed(Box<Status>, bool),
    /// A message on the bus (a call, already answered by the server).
    Bus,
    /// The connection to the bus closed.
    BusLost,
    Shutdown,
}

/// Tells D-Bus listeners of the session's changes until shutdown (false)
/// or until the bus goes away (true).
async fn serve_on(
    server: &Server<Player>,
    session: &SessionHandle,
    shutdown: &mut Shutdown,
) -> bool {
    use mpris_server::zbus::export::futures_core::Stream;
    let mut updates = match session.ask(Request::Subscribe).await {
        Outcome::Subscribed(_, updates) => updates,
        Outcome::Reply(_) => return false,
    };
    // ends when the connection to the bus closes
    let mut bus = zbus::MessageStream::from(server.connection());
    let mut shown = Shown::of(&status(session).await.unwrap_or_default());
    loop {
        let woken = tokio::select! {
            update = updates.recv() => match update {
                // a move or a resume puts the step's position elsewhere
                Ok(Response::Update { status, cue }) => {
                    let moved = cue.is_some_and(|c| c.kind == "move" || c.kind == "resume");
                    Woken::Changed(Box::new(status), moved)
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => match status(session).await {
                    Some(status) => Woken::Changed(Box::new(status), true),
                    None => Woken::Shutdown,
                },
                Err(broadcast::error::RecvError::Closed) => Woken::Shutdown,
            },
            message = std::future::poll_fn(|cx| std::pin::Pin::new(&mut bus).poll_next(cx)) => {
                match message {
                    Some(_) => Woken::Bus,
                    None => Woken::BusLost,
                }
            }
            () = shutdown.recv() => Woken::Shutdown,
        };
        let (status, moved) = match woken {
            Woken::Changed(status, moved) => (*status, moved),
            Woken::Bus => continue,
            Woken::BusLost => return true,
            Woken::Shutdown => return false,
        };
        let now = Shown::of(&status);
        let mut changed = Vec::new();
        if now.playback != shown.playback {
            changed.push(Property::PlaybackStatus(now.playback));
        }
        if now.track != shown.track {
            changed.push(Property::Metadata(metadata(&status)));
        }
        shown = now;
        if !changed.is_empty()
            && let Err(err) = server.properties_changed(changed).await
        {
            tracing::debug!("cannot signal an MPRIS change: {err}");
        }
        if moved
            && let Err(err) = server
                .emit(Signal::Seeked {
                    position: position(&status),
                })
                .await
        {
            tracing::debug!("cannot signal an MPRIS seek: {err}");
        }
    }
}

/// What D-Bus listeners are shown, to tell them only of real changes (the
/// updates stream has one line for every cue spoken: a press, a release,
/// a time left change nothing shown).
#[derive(Debug, PartialEq)]
struct Shown {
    playback: PlaybackStatus,
    /// The routine, the step, where in it, and the step's length.
    track: Option<(String, Option<usize>, String, u64)>,
}

impl Shown {
    fn of(status: &Status) -> Shown {
        Shown {
            playback: playback_status(status.state),
            track: status
                .routine
                .clone()
                .map(|routine| (routine, status.step, where_in_step(status), length(status))),
        }
    }
}

/// Where in the step the session is, as media widgets show it under the
/// title: "right side, place 2 of 5 · 7 of 15"; the step's number when it
/// has one stretch and no counts; the routine outside the steps.
fn where_in_step(status: &Status) -> String {
    let mut words: Vec<String> = status.stretch.iter().cloned().collect();
    if let (Some(rep), Some(reps)) = (status.rep, status.reps) {
        let said = format!("{rep} of {reps}");
        // a held repetition names itself already
        if !words.iter().any(|w| w.ends_with(&said)) {
            words.push(said);
        }
    }
    if words.is_empty() {
        return match (status.step, status.steps) {
            (Some(i), Some(n)) => format!("Step {} of {n}", i + 1),
            _ => status.routine.clone().unwrap_or_default(),
        };
    }
    words.join(" · ")
}

/// The length of what is shown as the track: the current step, or the
/// whole session outside the steps.
fn length(status: &Status) -> u64 {
    match (status.step_elapsed_ms, status.step_remaining_ms) {
        (Some(done), Some(left)) => done + left,
        _ => status.elapsed_ms + status.remaining_ms,
    }
}

/// Where in the track the session is: in the step, or in the session
/// outside the steps.
fn position(status: &Status) -> Time {
    micros(status.step_elapsed_ms.unwrap_or(status.elapsed_ms))
}

fn playback_status(state: SessionState) -> PlaybackStatus {
    match state {
        SessionState::Running => PlaybackStatus::Playing,
        // play is the go signal of a waiting step
        SessionState::Paused | SessionState::Waiting => PlaybackStatus::Paused,
        SessionState::Idle | SessionState::Finished => PlaybackStatus::Stopped,
    }
}

/// The session as a track: the routine is the album, the step the title
/// and its length the track's; where in the step (side, place, part,
/// repetition) is the artist, the line media widgets show under the title.
fn metadata(status: &Status) -> Metadata {
    let Some(routine) = &status.routine else {
        return Metadata::builder().trackid(TrackId::NO_TRACK).build();
    };
    let step = status.step.unwrap_or(0);
    let trackid =
        TrackId::try_from(format!("/org/massage_cue/step/{step}")).unwrap_or(TrackId::NO_TRACK);
    let mut metadata = Metadata::builder()
        .trackid(trackid)
        .album(routine.clone())
        .title(status.step_name.clone().unwrap_or_else(|| routine.clone()))
        .artist([where_in_step(status)])
        .length(micros(length(status)));
    if let Some(step) = status.step {
        metadata = metadata.track_number(i32::try_from(step + 1).unwrap_or(i32::MAX));
    }
    metadata.build()
}

fn micros(ms: u64) -> Time {
    Time::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The session's status, or `None` when the session task is gone.
async fn status(session: &SessionHandle) -> Option<Status> {
    match session.ask(Request::Status).await {
        Outcome::Reply(Response::Ok { status, .. }) => Some(status),
        _ => None,
    }
}

/// The MPRIS player: the daemon's session behind D-Bus methods and
/// properties.
#[derive(Debug)]
struct Player {
    session: SessionHandle,
}

impl Player {
    /// Carries out a control. "Not now" (pausing with no session) is no
    /// error to a media key: there was simply nothing to do.
    async fn control(&self, request: Request) -> fdo::Result<()> {
        match self.session.ask(request).await {
            Outcome::Reply(Response::Error {
                kind: ErrorKind::NotNow,
                message,
            }) => {
                tracing::debug!("MPRIS control ignored: {message}");
                Ok(())
            }
            Outcome::Reply(Response::Error { message, .. }) => Err(fdo::Error::Failed(message)),
            _ => Ok(()),
        }
    }

    /// Play (or PlayPause) with no session: the session stopped or
    /// replaced last comes back, as `resume --last` brings it, so that a
    /// stray Stop on a remote loses nothing.
    async fn play_or_bring_back(&self, request: Request) -> fdo::Result<()> {
        let idle = status(&self.session)
            .await
            .is_some_and(|s| s.state == SessionState::Idle);
        if idle {
            self.control(Request::ResumeLast).await
        } else {
            self.control(request).await
        }
    }

    async fn status(&self) -> fdo::Result<Status> {
        status(&self.session)
            .await
            .ok_or_else(|| fdo::Error::Failed("the daemon is shutting down".into()))
    }
}

impl RootInterface for Player {
    async fn raise(&self) -> fdo::Result<()> {
        Err(fdo::Error::NotSupported("massage-cue has no window".into()))
    }

    async fn quit(&self) -> fdo::Result<()> {
        Err(fdo::Error::NotSupported(
            "stop the daemon with `massage-cue` or its service".into(),
        ))
    }

    async fn can_quit(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn fullscreen(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn set_fullscreen(&self, _fullscreen: bool) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }

    async fn can_set_fullscreen(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn can_raise(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn has_track_list(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn identity(&self) -> fdo::Result<String> {
        Ok("massage-cue".into())
    }

    async fn desktop_entry(&self) -> fdo::Result<String> {
        Ok("massage-cue".into())
    }

    async fn supported_uri_schemes(&self) -> fdo::Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn supported_mime_types(&self) -> fdo::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

impl PlayerInterface for Player {
    async fn next(&self) -> fdo::Result<()> {
        self.control(Request::Next).await
    }

    async fn previous(&self) -> fdo::Result<()> {
        self.control(Request::Prev).await
    }

    async fn pause(&self) -> fdo::Result<()> {
        self.control(Request::Pause).await
    }

    async fn play_pause(&self) -> fdo::Result<()> {
        self.play_or_bring_back(Request::Toggle).await
    }

    async fn stop(&self) -> fdo::Result<()> {
        self.control(Request::Stop).await
    }

    async fn play(&self) -> fdo::Result<()> {
        self.play_or_bring_back(Request::Resume).await
    }

    async fn seek(&self, _offset: Time) -> fdo::Result<()> {
        Err(fdo::Error::NotSupported(
            "a session moves by steps: use next and previous".into(),
        ))
    }

    async fn set_position(&self, _track_id: TrackId, _position: Time) -> fdo::Result<()> {
        Err(fdo::Error::NotSupported(
            "a session moves by steps: use next and previous".into(),
        ))
    }

    async fn open_uri(&self, _uri: String) -> fdo::Result<()> {
        Err(fdo::Error::NotSupported(
            "start a routine with `massage-cue start`".into(),
        ))
    }

    async fn playback_status(&self) -> fdo::Result<PlaybackStatus> {
        Ok(playback_status(self.status().await?.state))
    }

    async fn loop_status(&self) -> fdo::Result<LoopStatus> {
        Ok(LoopStatus::None)
    }

    async fn set_loop_status(&self, _loop_status: LoopStatus) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }

    async fn rate(&self) -> fdo::Result<PlaybackRate> {
        Ok(1.0)
    }

    async fn set_rate(&self, _rate: PlaybackRate) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }

    async fn shuffle(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn set_shuffle(&self, _shuffle: bool) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }

    async fn metadata(&self) -> fdo::Result<Metadata> {
        Ok(metadata(&self.status().await?))
    }

    async fn volume(&self) -> fdo::Result<Volume> {
        Ok(1.0)
    }

    async fn set_volume(&self, _volume: Volume) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }

    async fn position(&self) -> fdo::Result<Time> {
        Ok(position(&self.status().await?))
    }

    async fn minimum_rate(&self) -> fdo::Result<PlaybackRate> {
        Ok(1.0)
    }

    async fn maximum_rate(&self) -> fdo::Result<PlaybackRate> {
        Ok(1.0)
    }

    async fn can_go_next(&self) -> fdo::Result<bool> {
        Ok(true)
    }

    async fn can_go_previous(&self) -> fdo::Result<bool> {
        Ok(true)
    }

    async fn can_play(&self) -> fdo::Result<bool> {
        Ok(true)
    }

    async fn can_pause(&self) -> fdo::Result<bool> {
        Ok(true)
    }

    async fn can_seek(&self) -> fdo::Result<bool> {
        Ok(false)
    }

    async fn can_control(&self) -> fdo::Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Status {
        Status {
            state: SessionState::Running,
            routine: Some("Lower back massage".into()),
            step: Some(2),
            step_name: Some("Rubbing".into()),
            stretch: Some("right side".into()),
            rep: Some(3),
            reps: Some(10),
            elapsed_ms: 61_000,
            remaining_ms: 539_000,
            step_elapsed_ms: Some(6_000),
            step_remaining_ms: Some(54_000),
            steps: Some(8),
            ..Status::default()
        }
    }

    #[test]
    fn the_session_is_a_track_of_its_routine() {
        let metadata = metadata(&running());
        assert_eq!(metadata.album(), Some("Lower back massage"));
        assert_eq!(metadata.title(), Some("Rubbing"));
        assert_eq!(
            metadata.artist(),
            Some(vec!["right side · 3 of 10".to_owned()])
        );
        // the step's length, against the step's title
        assert_eq!(metadata.length(), Some(Time::from_secs(60)));
        assert_eq!(position(&running()), Time::from_secs(6));
        let one_stretch = Status {
            stretch: None,
            rep: None,
            ..running()
        };
        assert_eq!(where_in_step(&one_stretch), "Step 3 of 8");
        let held = Status {
            stretch: Some("upper back, 3 of 10".into()),
            ..running()
        };
        assert_eq!(where_in_step(&held), "upper back, 3 of 10");
        assert_eq!(
            metadata.trackid().unwrap().as_str(),
            "/org/massage_cue/step/2"
        );
        let idle = super::metadata(&Status::default());
        assert_eq!(idle.trackid(), Some(TrackId::NO_TRACK));
        assert_eq!(idle.title(), None);
    }

    #[test]
    fn states_map_to_playback_status() {
        assert_eq!(
            playback_status(SessionState::Running),
            PlaybackStatus::Playing
        );
        assert_eq!(
            playback_status(SessionState::Paused),
            PlaybackStatus::Paused
        );
        assert_eq!(playback_status(SessionState::Idle), PlaybackStatus::Stopped);
        assert_eq!(
            playback_status(SessionState::Finished),
            PlaybackStatus::Stopped
        );
    }

    #[test]
    fn only_a_new_step_stretch_or_repetition_changes_what_is_shown() {
        let before = running();
        let later = Status {
            elapsed_ms: before.elapsed_ms + 500,
            remaining_ms: before.remaining_ms - 500,
            step_elapsed_ms: Some(6_500),
            step_remaining_ms: Some(53_500),
            ..before.clone()
        };
        assert_eq!(Shown::of(&before), Shown::of(&later));
        let after = Status {
            rep: Some(4),
            elapsed_ms: before.elapsed_ms + 2_000,
            remaining_ms: before.remaining_ms - 2_000,
            ..before.clone()
        };
        assert_ne!(Shown::of(&before), Shown::of(&after));
        let next = Status {
            step: Some(3),
            ..after.clone()
        };
        assert_ne!(Shown::of(&after), Shown::of(&next));
        let paused = Status {
            state: SessionState::Paused,
            ..after
        };
        assert_ne!(Shown::of(&before), Shown::of(&paused));
    }
}
