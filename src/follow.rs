//! The live view of a session in a terminal (`--follow`), and the one-line
//! summary `status` prints.
//!
//! The view subscribes to the daemon's updates. Each cue spoken is printed
//! as a line of its own, so the terminal keeps a transcript; below it a
//! small block shows the routine, the step, the repetition and a progress
//! bar with the time left, redrawn in place on every update and once a
//! second. When the output is not a terminal only the transcript and
//! changes of step or state are printed.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::client::{Client, ClientError};
use crate::ms::Ms;
use crate::protocol::{Request, Response, SessionState, SpokenCue, Status};

/// Width of the progress bar, in characters.
const BAR: usize = 30;

/// "12:05", or "1:02:05" past an hour.
pub fn clock(ms: Ms) -> String {
    let secs = ms.div_ceil(1000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn state_word(state: SessionState) -> &'static str {
    match state {
        SessionState::Idle => "idle",
        SessionState::Running => "running",
        SessionState::Paused => "paused",
        SessionState::Waiting => "waiting",
        SessionState::Finished => "finished",
    }
}

/// One line saying where the session is, for `massage-cue status`.
pub fn summary(status: &Status) -> String {
    let mut line = where_line(status);
    if let Some(listening) = &status.listening {
        line.push_str(&format!("\nVoice: {listening}"));
    }
    if let Some(message) = &status.message {
        line.push_str(&format!("\n{message}"));
    }
    line
}

/// The one line of [`summary`] that says where the session is.
fn where_line(status: &Status) -> String {
    let mut line = state_word(status.state).to_owned();
    match &status.routine {
        None => line.push_str(": no session"),
        Some(routine) => {
            line.push_str(&format!("  {routine}"));
            if let (Some(step), Some(name)) = (status.step, &status.step_name) {
                line.push_str(&format!("  step {}", step + 1));
                if let Some(steps) = status.steps {
                    line.push_str(&format!(" of {steps}"));
                }
                line.push_str(&format!(": {name}"));
                if let Some(stretch) = &status.stretch {
                    line.push_str(&format!(", {stretch}"));
                }
            }
            if let (Some(rep), Some(reps)) = (status.rep, status.reps) {
                line.push_str(&format!("  {rep} of {reps}"));
            }
            line.push_str(&format!(
                "  {} in, {} left",
                clock(status.elapsed_ms),
                clock(status.remaining_ms)
            ));
            if let Some(ends) = ends(status) {
                line.push_str(&format!("  {ends}"));
            }
        }
    }
    line
}

/// When the session ends, on the local wall clock: "ends 15:42", "ends
/// 15:42 if resumed now" while paused, with how far that misses the
/// booked length when it does by half a minute or more.
fn ends(status: &Status) -> Option<String> {
    let at = status.ends_at_ms?;
    let mut out = format!("ends {}", wall_clock(at));
    if status.state == SessionState::Paused {
        out.push_str(" if resumed now");
    }
    if let Some(over) = status.over_ms.filter(|o| o.unsigned_abs() >= 30_000) {
        let by = clock(over.unsigned_abs());
        let how = if over > 0 { "over" } else { "early" };
        out.push_str(&format!(" ({by} {how} of the booked length)"));
    }
    Some(out)
}

/// A time in milliseconds since the Unix epoch as "15:42" on the local
/// clock (the `TZ` variable or the system's time zone).
pub fn wall_clock(unix_ms: u64) -> String {
    let Ok(at) = jiff::Timestamp::from_millisecond(i64::try_from(unix_ms).unwrap_or(i64::MAX))
    else {
        return "--:--".into();
    };
    let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    zone.to_datetime(at).strftime("%H:%M").to_string()
}

/// What the live view shows, and what it has drawn.
#[derive(Debug)]
pub struct View {
    status: Status,
    /// When `status` arrived, to move the clocks on between updates.
    received: Instant,
    /// Whether to draw in place with terminal escapes.
    terminal: bool,
    /// How many lines the block drawn last has (to draw over it).
    drawn: usize,
    /// The step and state printed last, for plain output.
    printed: Option<(SessionState, Option<usize>)>,
    /// The message printed last, for plain output: each is printed once.
    said: Option<String>,
    /// Whether the session has been seen under way, so that going idle
    /// afterwards means it was stopped.
    seen_active: bool,
}

impl View {
    pub fn new(status: Status, terminal: bool) -> View {
        View {
            seen_active: status.state != SessionState::Idle,
            status,
            received: Instant::now(),
            terminal,
            drawn: 0,
            printed: None,
            said: None,
        }
    }

    /// Takes an update; returns what to write.
    pub fn update(&mut self, status: Status, cue: Option<&SpokenCue>) -> String {
        self.seen_active |= status.state != SessionState::Idle;
        self.status = status;
        self.received = Instant::now();
        self.draw(cue)
    }

    /// Moves the clocks on; returns what to write.
    pub fn tick(&mut self) -> String {
        if self.terminal && self.status.state == SessionState::Running {
            self.draw(None)
        } else {
            String::new()
        }
    }

    /// Whether following should end: the session finished or was stopped.
    pub fn done(&self) -> bool {
        match self.status.state {
            SessionState::Finished => true,
            SessionState::Idle => self.seen_active,
            _ => false,
        }
    }

    /// The status with its clocks moved on by the time since it arrived.
    fn now(&self) -> Status {
        let mut status = self.status.clone();
        if status.state == SessionState::Running {
            let since = self.received.elapsed().as_millis() as Ms;
            status.elapsed_ms += since;
            status.remaining_ms = status.remaining_ms.saturating_sub(since);
            status.step_elapsed_ms = status.step_elapsed_ms.map(|e| e + since);
            status.step_remaining_ms = status.step_remaining_ms.map(|r| r.saturating_sub(since));
        }
        // a paused session ends later the longer it stays paused
        if status.state != SessionState::Running
            && let Some(ends) = &mut status.ends_at_ms
        {
            *ends += self.received.elapsed().as_millis() as u64;
        }
        status
    }

    fn draw(&mut self, cue: Option<&SpokenCue>) -> String {
        let status = self.now();
        let mut out = String::new();
        if !self.terminal {
            if let Some(cue) = cue {
                out.push_str(&format!("{}  {}\n", clock(cue.at_ms), cue.text));
            }
            let key = (status.state, status.step);
            if self.printed != Some(key) {
                self.printed = Some(key);
                out.push_str(&where_line(&status));
                out.push('\n');
            }
            if status.message.is_some() && status.message != self.said {
                self.said.clone_from(&status.message);
                out.push_str(status.message.as_deref().unwrap_or_default());
                out.push('\n');
            }
            return out;
        }
        if self.drawn > 0 {
            // up to the block's first line, and clear from there down
            out.push_str(&format!("\x1b[{}F", self.drawn));
        }
        out.push_str("\x1b[J");
        if let Some(cue) = cue {
            out.push_str(&format!(
                "  {}  \u{201c}{}\u{201d}\n",
                clock(cue.at_ms),
                cue.text
            ));
        }
        let block = block(&status);
        self.drawn = block.len();
        for line in block {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// The lines of the live block.
pub fn block(status: &Status) -> Vec<String> {
    let Some(routine) = &status.routine else {
        let mut lines = vec!["No session. Start one with `massage-cue start ROUTINE`.".to_owned()];
        lines.extend(status.message.clone());
        return lines;
    };
    let mut lines = Vec::new();
    let state = match status.state {
        SessionState::Running => String::new(),
        other => format!("  [{}]", state_word(other)),
    };
    lines.push(format!("{routine}{state}"));
    if status.state == SessionState::Waiting {
        lines.push("Waiting for you: press play or run `massage-cue resume` to carry on.".into());
    }
    let mut step = match (status.step, status.steps) {
        (Some(i), Some(n)) => format!("Step {} of {n}", i + 1),
        (Some(i), None) => format!("Step {}", i + 1),
        _ => String::new(),
    };
    if let Some(name) = &status.step_name {
        step.push_str(&format!(": {name}"));
        if let Some(stretch) = &status.stretch {
            step.push_str(&format!(", {stretch}"));
        }
    }
    if let (Some(rep), Some(reps)) = (status.rep, status.reps) {
        step.push_str(&format!("  ·  repetition {rep} of {reps}"));
    }
    if !step.is_empty() {
        lines.push(step);
    }
    let step_part = match (status.step_elapsed_ms, status.step_remaining_ms) {
        (Some(done), Some(left)) => {
            format!("{}  {} left in step", bar(done, done + left), clock(left))
        }
        _ => String::new(),
    };
    lines.push(format!(
        "{step_part}{}{} left of {}{}",
        if step_part.is_empty() { "" } else { "  ·  " },
        clock(status.remaining_ms),
        clock(status.elapsed_ms + status.remaining_ms),
        ends(status).map_or(String::new(), |e| format!("  ·  {e}"))
    ));
    lines.extend(status.listening.as_ref().map(|l| format!("Voice: {l}")));
    lines.extend(status.message.clone());
    lines
}

/// `[#########.....................]`
fn bar(done: Ms, total: Ms) -> String {
    let filled = if total == 0 {
        BAR
    } else {
        ((done.min(total) as u128 * BAR as u128) / total as u128) as usize
    };
    format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR - filled))
}

/// Why following a session ended early.
#[derive(Debug, Error)]
pub enum FollowError {
    /// The daemon could not be asked, or answered wrongly.
    #[error(transparent)]
    Daemon(#[from] ClientError),
    /// The view could not be written (its reader may have gone away).
    #[error("cannot write to standard output: {0}")]
    Output(#[source] io::Error),
}

/// How many times one `--follow` starts the daemon again after it died.
pub const MAX_RESTARTS: u32 = 3;

/// How the live view is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Drawn in place with terminal escapes.
    Terminal,
    /// The transcript and changes, one plain line each.
    Plain,
    /// One JSON object a line: `{"status": {...}, "cue": {...}}`, the cue
    /// left out when none was spoken.
    Json,
}

/// One line of the JSON stream.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    status: &'a Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    cue: Option<&'a SpokenCue>,
}

/// Subscribes; the status at that moment.
fn subscribe(client: &mut Client) -> Result<Status, ClientError> {
    match client.request(&Request::Subscribe)? {
        Response::Ok { status, .. } => Ok(status),
        Response::Error { kind, message } => Err(ClientError::Refused { kind, message }),
        Response::Update { .. } => Err(ClientError::Unexpected),
    }
}

/// Follows the session until it finishes or is stopped, or the daemon is
/// stopped, writing the view to `out`. When the daemon dies (its
/// connection closes without its saying it shuts down), `restart` starts
/// it again and the view goes on with the session it restores, at most
/// [`MAX_RESTARTS`] times.
pub fn follow(
    client: Client,
    out: &mut dyn Write,
    output: Output,
    restart: &mut dyn FnMut() -> Result<Client, ClientError>,
) -> Result<(), FollowError> {
    let mut client = client;
    let status = subscribe(&mut client)?;
    let mut view = View::new(status.clone(), output == Output::Terminal);
    let show = |view: &mut View, out: &mut dyn Write, status: Status, cue: Option<&SpokenCue>| {
        if output == Output::Json {
            let line = serde_json::to_string(&JsonLine {
                status: &status,
                cue,
            })
            .map_err(|e| FollowError::Output(e.into()))?;
            view.update(status, cue);
            write_out(out, &format!("{line}\n"))
        } else {
            let text = view.update(status, cue);
            write_out(out, &text)
        }
    };
    show(&mut view, &mut *out, status, None)?;
    let mut restarts = 0;
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    while !view.done() {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match client.receive(wait) {
            Ok(Some(Response::Update { status, cue })) => {
                show(&mut view, &mut *out, status, cue.as_ref())?;
            }
            // the daemon says it is shutting down: stopped on purpose
            Ok(Some(Response::Error { .. })) => {
                if output != Output::Json {
                    write_out(out, "The daemon stopped.\n")?;
                }
                return Ok(());
            }
            Ok(Some(_)) => return Err(ClientError::Unexpected.into()),
            Ok(None) => {}
            Err(ClientError::Closed | ClientError::Io(_)) if restarts < MAX_RESTARTS => {
                restarts += 1;
                if output != Output::Json {
                    write_out(out, "The daemon stopped unexpectedly; starting it again.\n")?;
                }
                let status;
                (client, status) = reconnect(restart)?;
                show(&mut view, &mut *out, status, None)?;
            }
            Err(ClientError::Closed) => {
                if output != Output::Json {
                    write_out(out, "The daemon stopped.\n")?;
                }
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        }
        if Instant::now() >= next_tick {
            if output != Output::Json {
                write_out(out, &view.tick())?;
            }
            next_tick = Instant::now() + Duration::from_secs(1);
        }
    }
    Ok(())
}

/// How long a daemon that dies may take to be gone before the view gives
/// up starting another.
const RECONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// Starts the daemon again and subscribes; the new connection and the
/// status. A daemon being killed can close the view's connection before its
/// listening socket is gone: a connection made to it in that moment is
/// dropped unanswered. Such a connection lost is tried again until the
/// dying daemon is gone and a new one answers.
fn reconnect(
    restart: &mut dyn FnMut() -> Result<Client, ClientError>,
) -> Result<(Client, Status), ClientError> {
    let deadline = Instant::now() + RECONNECT_PATIENCE;
    loop {
        let tried = restart().and_then(|mut client| {
            let status = subscribe(&mut client)?;
            Ok((client, status))
        });
        match tried {
            Err(err) if dropped(&err) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// A connection dropped by the other end (not a reply that is late).
fn dropped(err: &ClientError) -> bool {
    match err {
        ClientError::Closed => true,
        ClientError::Io(err) => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), FollowError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(FollowError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A restart that fails with each of `errors` in turn; how often it
    /// was called, and what `reconnect` gave at last.
    fn reconnect_through(errors: Vec<ClientError>) -> (usize, ClientError) {
        let mut errors = errors.into_iter();
        let mut calls = 0;
        let mut restart = || {
            calls += 1;
            Err(errors.next().expect("no more tries expected"))
        };
        let last = reconnect(&mut restart).expect_err("no daemon answers here");
        (calls, last)
    }

    #[test]
    fn a_connection_dropped_by_a_dying_daemon_is_tried_again() {
        let reset = || ClientError::Io(std::io::ErrorKind::ConnectionReset.into());
        let (calls, last) = reconnect_through(vec![
            reset(),
            ClientError::Closed,
            reset(),
            ClientError::Refused {
                kind: crate::protocol::ErrorKind::Failed,
                message: "shutting down".into(),
            },
        ]);
        assert_eq!(calls, 4);
        assert!(matches!(last, ClientError::Refused { .. }), "{last}");
    }

    #[test]
    fn a_late_reply_or_a_failed_start_is_not_tried_again() {
        let (calls, last) =
            reconnect_through(vec![ClientError::Io(std::io::ErrorKind::TimedOut.into())]);
        assert_eq!(calls, 1);
        assert!(matches!(last, ClientError::Io(_)), "{last}");
        let (calls, _) = reconnect_through(vec![ClientError::Spawn(
            std::io::ErrorKind::NotFound.into(),
        )]);
        assert_eq!(calls, 1);
    }

    fn running() -> Status {
        Status {
            state: SessionState::Running,
            routine: Some("Lower back".into()),
            step: Some(2),
            step_name: Some("Deep stroking".into()),
            stretch: None,
            rep: Some(7),
            reps: Some(15),
            elapsed_ms: 125_000,
            remaining_ms: 900_000,
            steps: Some(8),
            step_elapsed_ms: Some(15_000),
            step_remaining_ms: Some(15_000),
            message: None,
            why: None,
            session: None,
            preparing: None,
            ..Status::default()
        }
    }

    #[test]
    fn the_summary_says_when_the_session_ends_and_how_it_meets_the_booking() {
        let at = 1_764_600_000_000;
        let status = Status {
            ends_at_ms: Some(at),
            ..running()
        };
        let line = summary(&status);
        assert!(
            line.ends_with(&format!("  ends {}", wall_clock(at))),
            "{line}"
        );
        let paused = Status {
            state: SessionState::Paused,
            over_ms: Some(185_000),
            booked_ms: Some(1_500_000),
            ..status.clone()
        };
        let line = summary(&paused);
        assert!(
            line.ends_with("if resumed now (3:05 over of the booked length)"),
            "{line}"
        );
        let early = Status {
            over_ms: Some(-60_000),
            ..status.clone()
        };
        assert!(summary(&early).ends_with("(1:00 early of the booked length)"));
        // within half a minute of the booking, nothing is said of it
        let kept = Status {
            over_ms: Some(-20_000),
            ..status
        };
        assert!(!summary(&kept).contains("booked"));
        assert!(block(&kept)[2].ends_with(&format!("ends {}", wall_clock(at))));
    }

    #[test]
    fn clocks_read_as_minutes_and_seconds() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(59_001), "1:00");
        assert_eq!(clock(125_000), "2:05");
        assert_eq!(clock(3_725_000), "1:02:05");
    }

    #[test]
    fn the_summary_says_where_the_session_is() {
        assert_eq!(
            summary(&running()),
            "running  Lower back  step 3 of 8: Deep stroking  7 of 15  2:05 in, 15:00 left"
        );
        assert_eq!(summary(&Status::default()), "idle: no session");
    }

    #[test]
    fn the_block_shows_step_repetition_and_progress() {
        let lines = block(&running());
        assert_eq!(lines[0], "Lower back");
        assert_eq!(
            lines[1],
            "Step 3 of 8: Deep stroking  ·  repetition 7 of 15"
        );
        assert_eq!(
            lines[2],
            format!(
                "[{}{}]  0:15 left in step  ·  15:00 left of 17:05",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        let paused = Status {
            state: SessionState::Paused,
            message: Some("Sound lost".into()),
            ..running()
        };
        let lines = block(&paused);
        assert_eq!(lines[0], "Lower back  [paused]");
        assert_eq!(lines.last().unwrap(), "Sound lost");
    }

    #[test]
    fn a_terminal_view_redraws_in_place_and_keeps_the_cues() {
        let mut view = View::new(running(), true);
        let first = view.update(running(), None);
        assert!(first.starts_with("\x1b[J"), "{first:?}");
        let cue = SpokenCue {
            text: "Eight".into(),
            kind: "count".into(),
            at_ms: 127_000,
            duration_ms: 400,
        };
        let second = view.update(running(), Some(&cue));
        assert!(
            second.starts_with("\x1b[3F\x1b[J  2:07  \u{201c}Eight\u{201d}\n"),
            "{second:?}"
        );
        assert!(second.contains("Step 3 of 8"));
        assert!(!view.done());
        view.update(
            Status {
                state: SessionState::Finished,
                ..running()
            },
            None,
        );
        assert!(view.done());
    }

    #[test]
    fn plain_output_prints_cues_and_changes_only() {
        let mut view = View::new(running(), false);
        let first = view.update(running(), None);
        assert_eq!(first, format!("{}\n", summary(&running())));
        let cue = SpokenCue {
            text: "Eight".into(),
            kind: "count".into(),
            at_ms: 127_000,
            duration_ms: 400,
        };
        assert_eq!(view.update(running(), Some(&cue)), "2:07  Eight\n");
        assert_eq!(view.tick(), "");
        let stopped = view.update(Status::default(), None);
        assert_eq!(stopped, "idle: no session\n");
        assert!(view.done(), "idle after running means stopped");
    }

    #[test]
    fn plain_output_says_a_message_once() {
        let notice = Status {
            message: Some("No sound: no audio output device is available.".into()),
            ..running()
        };
        let mut view = View::new(notice.clone(), false);
        let first = view.update(notice.clone(), None);
        assert_eq!(first.matches("No sound").count(), 1, "{first}");
        let next_step = Status {
            step: Some(3),
            ..notice.clone()
        };
        let second = view.update(next_step, None);
        assert!(second.starts_with("running"), "{second}");
        assert!(!second.contains("No sound"), "said once: {second}");
        let other = Status {
            message: Some("The sound output is back.".into()),
            ..notice
        };
        assert!(view.update(other, None).contains("is back"));
    }
}
