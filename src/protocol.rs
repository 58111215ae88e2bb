//! The wire protocol between the client and the daemon: one JSON object a
//! line, each carrying the protocol `version`.
//!
//! A client sends a [`Request`]; the daemon answers every request with one
//! [`Response`], errors included. After [`Request::Subscribe`] the daemon
//! goes on sending [`Response::Update`] lines, one for every change and
//! every cue spoken, until the client hangs up.
//!
//! These types are the protocol's own, not the command line's: changing a
//! flag does not change what goes over the socket.
//!
//! ```text
//! → {"version":1,"request":"start","routine":"/path/lower-back.toml","options":{"level":"high"}}
//! ← {"version":1,"reply":"ok","status":{"state":"running",...}}
//! → {"version":1,"request":"frobnicate"}
//! ← {"version":1,"reply":"error","kind":"bad_request","message":"..."}
//! ```

use serde::de::Error as _;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ms::Ms;
use crate::plan::{Detail, Level};

/// How long a session stopped or replaced stays resumable with
/// `resume --last` (and MPRIS Play): one hour.
pub const LAST_KEPT_MS: u64 = 60 * 60 * 1000;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest request or response line accepted, newline included. A
/// longer line is refused and the connection closed.
pub const MAX_LINE: usize = 64 * 1024;

/// What a client asks of the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Start a routine, ending any session there is.
    Start {
        /// A path to a routine file (the client sends an absolute one), or a
        /// routine name that the daemon looks up.
        routine: String,
        #[serde(default)]
        options: StartOptions,
    },
    Pause,
    Resume,
    /// Bring back the session stopped or replaced last, within
    /// [`LAST_KEPT_MS`] of its end, and resume it; a session under way
    /// takes its place as the one kept.
    ResumeLast,
    /// Pause when running, resume when paused.
    Toggle,
    /// Go to the next stretch: side, place, part, round or held repetition
    /// (the next step after a step's last).
    Next,
    /// Back to the start of this stretch, or the one before it when this
    /// one began only just now.
    Prev,
    /// Restart this stretch.
    Repeat,
    /// [`Request::Next`] by whole steps.
    NextStep,
    /// [`Request::Prev`] by whole steps.
    PrevStep,
    /// [`Request::Repeat`] for the whole step.
    RepeatStep,
    /// Lengthen the work of the current stretch by `ms` (see
    /// `plan::adjust` for the rule); with a booked length the steps after
    /// it are fitted again so the session still ends on time.
    More {
        #[serde(default = "a_minute")]
        ms: Ms,
    },
    /// Shorten the work of the current stretch by `ms`, like
    /// [`Request::More`].
    Less {
        #[serde(default = "a_minute")]
        ms: Ms,
    },
    Stop,
    /// Say `text` in the session's timeline: the plan stands still while
    /// it is said, so it never talks over a count. Refused when no session
    /// is under way (the client then says it itself).
    Say {
        text: String,
    },
    Status,
    /// Reply with the status, then stream [`Response::Update`] lines.
    Subscribe,
    /// Stop the daemon: sound stops, the session's position is saved.
    Shutdown,
    /// A spoken command was heard: a short soft sound, then `text` said,
    /// if any. Only the daemon's own listener sends it; it never goes over
    /// the socket.
    #[serde(skip)]
    Acknowledge {
        text: Option<String>,
    },
}

/// The longest text `say` speaks through the daemon, in characters.
pub const MAX_SAY_CHARS: usize = 500;

/// Why `text` cannot be said by `say`, if it cannot: it is empty, longer
/// than [`MAX_SAY_CHARS`], or holds a control character. The client and
/// the daemon both ask.
pub fn say_text_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        Some("the text is empty".into())
    } else if text.chars().count() > MAX_SAY_CHARS {
        Some(format!(
            "the text is longer than {MAX_SAY_CHARS} characters"
        ))
    } else if text.chars().any(char::is_control) {
        Some("the text holds a control character (a line break, a tab…)".into())
    } else {
        None
    }
}

/// What `more` and `less` change when no amount is given.
pub const DEFAULT_CHANGE_MS: Ms = 60_000;
/// The most `more` or `less` changes at once.
pub const MAX_CHANGE_MS: Ms = 3_600_000;

fn a_minute() -> Ms {
    DEFAULT_CHANGE_MS
}

/// How a session is planned, where the command line says so; what is left
/// out comes from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Fit the session to this length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_ms: Option<Ms>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
    /// Speed factor on every tempo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempo: Option<f64>,
    /// Replace a session that is under way (running, paused or waiting);
    /// without it such a start is refused, so a stray start never loses
    /// the session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// The client's sound environment (see [`sound_environment`]), so
    /// that the daemon can say when its own differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<std::collections::BTreeMap<String, String>>,
    /// Music under the cues: an absolute path to a file or a folder of
    /// them, instead of the configuration's `[music] path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music: Option<std::path::PathBuf>,
    /// No music this session, whatever the configuration says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_music: bool,
    /// Listen for spoken commands this session, whatever `[listen]
    /// enabled` says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listen: bool,
}

/// The variables that say where a program's sound goes, as this process
/// has them (those unset are left out).
pub fn sound_environment() -> std::collections::BTreeMap<String, String> {
    ["PULSE_SERVER", "PULSE_SINK", "PIPEWIRE_REMOTE"]
        .into_iter()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (name.to_owned(), v))
        })
        .collect()
}

/// What the daemon says back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    /// The request was carried out; where the session is now.
    Ok {
        status: Status,
        /// What happened, in words ("Resuming: deep stroking, 7 of 15").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The request was not carried out.
    Error { kind: ErrorKind, message: String },
    /// A line of the stream after [`Request::Subscribe`]: the session
    /// changed, or a cue was spoken.
    Update {
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cue: Option<SpokenCue>,
    },
}

impl Response {
    /// An error reply.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::Error {
            kind,
            message: message.into(),
        }
    }
}

/// Why a request was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The line was not a request this daemon understands: malformed,
    /// too long, cut short, or of another protocol version.
    BadRequest,
    /// The request was understood but its content is wrong: no such
    /// routine, an invalid routine file, options out of range.
    BadInput,
    /// The request makes no sense now (pausing with no session).
    NotNow,
    /// The connection belongs to another user.
    Refused,
    /// Something failed in the daemon.
    Failed,
}

/// Where the session is. The first eight fields are the ones
/// `status --json` promises; the rest serve the live view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: SessionState,
    /// The routine's name.
    pub routine: Option<String>,
    /// The current step, 0-based as in the plan.
    pub step: Option<usize>,
    pub step_name: Option<String>,
    /// Where in the step: "right side, place 2 of 5".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stretch: Option<String>,
    /// The current repetition (1-based) of a counted step.
    pub rep: Option<u32>,
    pub reps: Option<u32>,
    pub elapsed_ms: Ms,
    pub remaining_ms: Ms,
    /// How many steps the session has.
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default)]
    pub step_elapsed_ms: Option<Ms>,
    #[serde(default)]
    pub step_remaining_ms: Option<Ms>,
    /// When the session is expected to end, in milliseconds since the Unix
    /// epoch: now and the time left (when paused, if resumed now).
    #[serde(default)]
    pub ends_at_ms: Option<u64>,
    /// The length booked with `start --length`.
    #[serde(default)]
    pub booked_ms: Option<Ms>,
    /// How much longer than booked the session will last (negative: it
    /// ends early), pauses aside.
    #[serde(default)]
    pub over_ms: Option<i64>,
    /// What happened that the user should know (sound lost, session
    /// restored after a restart).
    #[serde(default)]
    pub message: Option<String>,
    /// Which session this is: a number the daemon gives each session it
    /// starts or restores. A control request naming it (`"session"`)
    /// applies to this session only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// A session being made ready to start while the one there is (if
    /// any) goes on: its phrases rendered, its plan made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preparing: Option<Preparing>,
    /// Why the session is paused or waiting; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    /// Whether the session listens for spoken commands, and how the
    /// microphone is: "listening on the default microphone; say
    /// \"massage\" and a command". Left out when it does not listen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening: Option<String>,
}

/// Why a session is not playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Paused on request: `pause`, `toggle`, a media key.
    Manual,
    /// The sound output was lost; it is tried again.
    SoundLost,
    /// Restored paused after the daemon restarted.
    Restart,
    /// At a step that waits for the go signal.
    WaitStep,
}

/// A session being made ready to start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preparing {
    /// The routine as it was asked for (a path or a name).
    pub routine: String,
    /// Phrases ready so far.
    pub phrases_ready: usize,
    /// Phrases to make ready; 0 until they are known.
    pub phrases: usize,
}

/// What a session is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// No session.
    #[default]
    Idle,
    Running,
    Paused,
    /// At a step that waits for the go signal (resume, toggle, play).
    Waiting,
    /// The session played to its end.
    Finished,
}

/// A cue as it is spoken, for the live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpokenCue {
    /// What is said; for ticks and chimes, a word for the sound.
    pub text: String,
    /// The cue's kind as `plan --json` names it ("count", "announce", ...).
    pub kind: String,
    /// Its offset in the session.
    pub at_ms: Ms,
    pub duration_ms: Ms,
}

/// Why a line could not be read as a request or response.
#[derive(Debug, Error)]
pub enum ProtocolError {
    #[error("malformed line: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "protocol version {got} is not spoken here (this side speaks {VERSION}); restart the daemon after an upgrade"
    )]
    Version { got: u64 },
    #[error("the line has no protocol `version`")]
    NoVersion,
    #[error("the line is longer than {MAX_LINE} bytes")]
    TooLong,
}

/// One message on the wire: `version` beside the message's own fields.
#[derive(Serialize)]
struct Envelope<'a, T> {
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

fn encode<T: Serialize>(body: &T) -> String {
    let mut line = serde_json::to_string(&Envelope {
        version: VERSION,
        body,
    })
    .expect("protocol types always serialize");
    line.push('\n');
    line
}

fn decode<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, ProtocolError> {
    Ok(serde_json::from_value(decode_value(line)?)?)
}

/// The line's JSON object, its `version` checked and taken out.
fn decode_value(line: &[u8]) -> Result<serde_json::Value, ProtocolError> {
    if line.len() > MAX_LINE {
        return Err(ProtocolError::TooLong);
    }
    let mut value: serde_json::Value = serde_json::from_slice(line)?;
    let version = value
        .as_object_mut()
        .and_then(|object| object.remove("version"))
        .ok_or(ProtocolError::NoVersion)?;
    match version.as_u64() {
        Some(v) if v == u64::from(VERSION) => {}
        Some(got) => return Err(ProtocolError::Version { got }),
        None => return Err(ProtocolError::NoVersion),
    }
    Ok(value)
}

impl Request {
    /// The request as one line, newline included.
    pub fn encode(&self) -> String {
        encode(self)
    }

    /// Reads one line (with or without its newline) as a request.
    pub fn decode(line: &[u8]) -> Result<Request, ProtocolError> {
        Ok(Request::decode_addressed(line)?.0)
    }

    /// Reads one line as a request, with the session it is meant for when
    /// it names one (`"session": N`, the number [`Status::session`] gives).
    pub fn decode_addressed(line: &[u8]) -> Result<(Request, Option<u64>), ProtocolError> {
        let mut value = decode_value(line)?;
        let session = match value.as_object_mut().and_then(|o| o.remove("session")) {
            None | Some(serde_json::Value::Null) => None,
            Some(id) => Some(id.as_u64().ok_or_else(|| {
                ProtocolError::Json(serde_json::Error::custom(
                    "`session` must be a session number, as `status` gives it",
                ))
            })?),
        };
        Ok((serde_json::from_value(value)?, session))
    }

    /// The request as one line addressed to session `session`.
    pub fn encode_addressed(&self, session: u64) -> String {
        #[derive(Serialize)]
        struct Addressed<'a> {
            version: u32,
            session: u64,
            #[serde(flatten)]
            body: &'a Request,
        }
        let mut line = serde_json::to_string(&Addressed {
            version: VERSION,
            session,
            body: self,
        })
        .expect("protocol types always serialize");
        line.push('\n');
        line
    }
}

impl Response {
    /// The response as one line, newline included.
    pub fn encode(&self) -> String {
        encode(self)
    }

    /// Reads one line (with or without its newline) as a response.
    pub fn decode(line: &[u8]) -> Result<Response, ProtocolError> {
        decode(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn say_takes_a_line_of_text_of_bounded_length() {
        assert_eq!(say_text_problem("Breathe out slowly."), None);
        for bad in ["", "  ", "one\ntwo", "tab\there", &"long ".repeat(120)] {
            assert!(say_text_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(say_text_problem(&"a".repeat(MAX_SAY_CHARS)), None);
    }

    #[test]
    fn requests_round_trip_with_a_version() {
        let requests = [
            Request::Start {
                routine: "lower-back".into(),
                options: StartOptions {
                    level: Some(Level::High),
                    length_ms: Some(1_500_000),
                    detail: Some(Detail::Full),
                    tempo: Some(0.8),
                    replace: true,
                    sound: Some([("PULSE_SERVER".to_owned(), "unix:/p".to_owned())].into()),
                    music: Some("/srv/music".into()),
                    no_music: false,
                    listen: true,
                },
            },
            Request::Pause,
            Request::Resume,
            Request::ResumeLast,
            Request::Toggle,
            Request::Next,
            Request::Prev,
            Request::Repeat,
            Request::NextStep,
            Request::PrevStep,
            Request::RepeatStep,
            Request::More { ms: 90_000 },
            Request::Less { ms: 60_000 },
            Request::Stop,
            Request::Say {
                text: "Breathe out slowly.".into(),
            },
            Request::Status,
            Request::Subscribe,
            Request::Shutdown,
        ];
        for request in requests {
            let line = request.encode();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert!(line.starts_with("{\"version\":1,"), "{line}");
            assert_eq!(Request::decode(line.as_bytes()).unwrap(), request);
            let addressed = request.encode_addressed(7);
            assert_eq!(
                Request::decode_addressed(addressed.as_bytes()).unwrap(),
                (request.clone(), Some(7))
            );
            assert_eq!(
                Request::decode_addressed(line.as_bytes()).unwrap(),
                (request, None)
            );
        }
        let err = Request::decode_addressed(br#"{"version":1,"session":"x","request":"stop"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("`session` must be"), "{err}");
    }

    #[test]
    fn the_wire_format_is_stable() {
        assert_eq!(
            Request::Pause.encode(),
            "{\"version\":1,\"request\":\"pause\"}\n"
        );
        let start = Request::decode(
            br#"{"version":1,"request":"start","routine":"x","options":{"level":"low"}}"#,
        )
        .unwrap();
        assert_eq!(
            start,
            Request::Start {
                routine: "x".into(),
                options: StartOptions {
                    level: Some(Level::Low),
                    ..StartOptions::default()
                }
            }
        );
        assert_eq!(
            Request::decode(br#"{"version":1,"request":"more"}"#).unwrap(),
            Request::More { ms: 60_000 }
        );
        assert_eq!(
            Request::Less { ms: 30_000 }.encode(),
            "{\"version\":1,\"request\":\"less\",\"ms\":30000}\n"
        );
        let start = Request::decode(br#"{"version":1,"request":"start","routine":"x"}"#).unwrap();
        assert!(
            matches!(start, Request::Start { options, .. } if options == StartOptions::default())
        );
    }

    #[test]
    fn status_has_every_promised_key_even_when_idle() {
        let line = Response::Ok {
            status: Status::default(),
            message: None,
        }
        .encode();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let status = value["status"].as_object().unwrap();
        for key in [
            "state",
            "routine",
            "step",
            "step_name",
            "rep",
            "reps",
            "elapsed_ms",
            "remaining_ms",
            "message",
        ] {
            assert!(status.contains_key(key), "{key} missing from {line}");
        }
        assert_eq!(status["state"], "idle");
        assert_eq!(value["reply"], "ok");
    }

    #[test]
    fn responses_round_trip() {
        let status = Status {
            state: SessionState::Running,
            routine: Some("Lower back".into()),
            step: Some(2),
            step_name: Some("Deep stroking".into()),
            stretch: Some("right side".into()),
            rep: Some(7),
            reps: Some(15),
            elapsed_ms: 61_000,
            remaining_ms: 900_000,
            steps: Some(8),
            step_elapsed_ms: Some(14_000),
            step_remaining_ms: Some(16_000),
            ends_at_ms: Some(1_764_600_000_000),
            booked_ms: Some(1_500_000),
            over_ms: Some(-20_000),
            message: None,
            session: Some(3),
            preparing: Some(Preparing {
                routine: "/r/neck.toml".into(),
                phrases_ready: 4,
                phrases: 9,
            }),
            why: None,
            listening: Some("listening on the default microphone".into()),
        };
        for response in [
            Response::Ok {
                status: status.clone(),
                message: Some("Resuming".into()),
            },
            Response::error(ErrorKind::BadInput, "no routine named `x`"),
            Response::Update {
                status,
                cue: Some(SpokenCue {
                    text: "Seven".into(),
                    kind: "count".into(),
                    at_ms: 61_000,
                    duration_ms: 400,
                }),
            },
        ] {
            assert_eq!(
                Response::decode(response.encode().as_bytes()).unwrap(),
                response
            );
        }
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        let cases: [(&[u8], &str); 6] = [
            (b"{not json", "malformed line"),
            (b"[1,2]", "no protocol `version`"),
            (br#"{"request":"pause"}"#, "no protocol `version`"),
            (br#"{"version":2,"request":"pause"}"#, "protocol version 2"),
            (
                br#"{"version":1,"request":"dance"}"#,
                "unknown variant `dance`",
            ),
            (b"\xff\xfe", "malformed line"),
        ];
        for (line, expected) in cases {
            let err = Request::decode(line).unwrap_err().to_string();
            assert!(err.contains(expected), "{line:?}: {err}");
        }
        let long = vec![b' '; MAX_LINE + 1];
        assert!(matches!(
            Request::decode(&long),
            Err(ProtocolError::TooLong)
        ));
    }

    /// Arbitrary values of every protocol type: encoded, they make one line
    /// that decodes to the same value.
    mod round_trips {
        use proptest::prelude::*;

        use super::*;

        /// Text with the characters that stress JSON: newlines, quotes,
        /// backslashes, controls, separators and marks beyond ASCII.
        fn text(max: usize) -> impl Strategy<Value = String> {
            let awkward = prop::sample::select(vec![
                '\n', '\r', '\t', '"', '\\', '/', '\0', '\u{7f}', '\u{85}', '\u{2028}', '\u{2029}',
                '\u{202e}', '\u{feff}', 'é', '🙂',
            ]);
            prop::collection::vec(prop_oneof![any::<char>(), awkward], 0..max)
                .prop_map(String::from_iter)
        }

        /// JSON has no NaN or infinity, and the client refuses a tempo
        /// outside 0.25 to 4 before anything is sent; any finite factor
        /// must still come back as it went. (serde_json reads every float
        /// exactly only with its `float_roundtrip` feature, which this
        /// test build has through jsonschema.)
        fn tempo() -> impl Strategy<Value = f64> {
            prop_oneof![
                0.25..=4.0f64,
                any::<f64>().prop_filter("finite", |f| f.is_finite()),
            ]
        }

        fn level() -> impl Strategy<Value = Level> {
            prop_oneof![Just(Level::Low), Just(Level::Mid), Just(Level::High)]
        }

        fn detail() -> impl Strategy<Value = Detail> {
            prop_oneof![
                Just(Detail::Brief),
                Just(Detail::Normal),
                Just(Detail::Full)
            ]
        }

        fn start_options() -> impl Strategy<Value = StartOptions> {
            (
                prop::option::of(level()),
                prop::option::of(any::<Ms>()),
                prop::option::of(detail()),
                prop::option::of(tempo()),
                any::<bool>(),
                prop::option::of(text(100).prop_map(std::path::PathBuf::from)),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(
                    |(level, length_ms, detail, tempo, replace, music, no_music, listen)| {
                        StartOptions {
                            level,
                            length_ms,
                            detail,
                            tempo,
                            replace,
                            sound: None,
                            music,
                            no_music,
                            listen,
                        }
                    },
                )
        }

        fn request() -> impl Strategy<Value = Request> {
            prop_oneof![
                (text(300), start_options())
                    .prop_map(|(routine, options)| Request::Start { routine, options }),
                Just(Request::Pause),
                Just(Request::Resume),
                Just(Request::ResumeLast),
                Just(Request::Toggle),
                Just(Request::Next),
                Just(Request::Prev),
                Just(Request::Repeat),
                Just(Request::NextStep),
                Just(Request::PrevStep),
                Just(Request::RepeatStep),
                any::<Ms>().prop_map(|ms| Request::More { ms }),
                any::<Ms>().prop_map(|ms| Request::Less { ms }),
                Just(Request::Stop),
                text(600).prop_map(|text| Request::Say { text }),
                Just(Request::Status),
                Just(Request::Subscribe),
                Just(Request::Shutdown),
            ]
        }

        fn state() -> impl Strategy<Value = SessionState> {
            prop_oneof![
                Just(SessionState::Idle),
                Just(SessionState::Running),
                Just(SessionState::Paused),
                Just(SessionState::Finished),
            ]
        }

        fn status() -> impl Strategy<Value = Status> {
            (
                (
                    state(),
                    prop::option::of(text(100)),
                    prop::option::of(any::<usize>()),
                    prop::option::of(text(100)),
                    prop::option::of(any::<u32>()),
                    prop::option::of(any::<u32>()),
                ),
                (
                    any::<Ms>(),
                    any::<Ms>(),
                    prop::option::of(any::<usize>()),
                    prop::option::of(any::<Ms>()),
                    prop::option::of(any::<Ms>()),
                    prop::option::of(text(200)),
                    prop::option::of(text(100)),
                ),
            )
                .prop_map(
                    |(
                        (state, routine, step, step_name, rep, reps),
                        (
                            elapsed_ms,
                            remaining_ms,
                            steps,
                            step_elapsed_ms,
                            step_remaining_ms,
                            message,
                            stretch,
                        ),
                    )| Status {
                        state,
                        routine,
                        step,
                        step_name,
                        stretch,
                        rep,
                        reps,
                        elapsed_ms,
                        remaining_ms,
                        steps,
                        step_elapsed_ms,
                        step_remaining_ms,
                        message,
                        why: None,
                        session: None,
                        preparing: None,
                        ..Status::default()
                    },
                )
        }

        fn error_kind() -> impl Strategy<Value = ErrorKind> {
            prop_oneof![
                Just(ErrorKind::BadRequest),
                Just(ErrorKind::BadInput),
                Just(ErrorKind::NotNow),
                Just(ErrorKind::Refused),
                Just(ErrorKind::Failed),
            ]
        }

        fn cue() -> impl Strategy<Value = SpokenCue> {
            (text(100), text(20), any::<Ms>(), any::<Ms>()).prop_map(
                |(text, kind, at_ms, duration_ms)| SpokenCue {
                    text,
                    kind,
                    at_ms,
                    duration_ms,
                },
            )
        }

        fn response() -> impl Strategy<Value = Response> {
            prop_oneof![
                (status(), prop::option::of(text(200)))
                    .prop_map(|(status, message)| Response::Ok { status, message }),
                (error_kind(), text(300))
                    .prop_map(|(kind, message)| Response::Error { kind, message }),
                (status(), prop::option::of(cue()))
                    .prop_map(|(status, cue)| Response::Update { status, cue }),
            ]
        }

        /// One line: a newline at the end and nowhere else, within
        /// [`MAX_LINE`], starting with the version.
        fn assert_one_line(line: &str) {
            let body = line.strip_suffix('\n').expect("a line ends with a newline");
            assert!(!body.contains(['\n', '\r']), "{line:?}");
            assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
            assert!(body.starts_with("{\"version\":1,"), "{line:?}");
        }

        proptest! {
            #[test]
            fn any_request_comes_back_as_it_went(request in request()) {
                let line = request.encode();
                assert_one_line(&line);
                prop_assert_eq!(Request::decode(line.as_bytes()).unwrap(), request.clone());
                // the newline is optional on reading
                prop_assert_eq!(Request::decode(line.trim_end().as_bytes()).unwrap(), request);
            }

            #[test]
            fn any_response_comes_back_as_it_went(response in response()) {
                let line = response.encode();
                assert_one_line(&line);
                prop_assert_eq!(Response::decode(line.as_bytes()).unwrap(), response);
            }

            #[test]
            fn a_line_is_never_read_as_the_other_kind(
                request in request(),
                response in response(),
            ) {
                prop_assert!(Response::decode(request.encode().as_bytes()).is_err());
                prop_assert!(Request::decode(response.encode().as_bytes()).is_err());
            }

            #[test]
            fn an_over_long_line_is_refused_whatever_it_holds(
                routine in text(40),
                pad in (MAX_LINE / 6)..(MAX_LINE / 2),
            ) {
                // control characters are written `\u0001`: six bytes each
                let request = Request::Start {
                    routine: format!("{routine}{}", "\u{1}".repeat(pad)),
                    options: StartOptions::default(),
                };
                let line = request.encode();
                if line.len() > MAX_LINE {
                    prop_assert!(matches!(
                        Request::decode(line.as_bytes()),
                        Err(ProtocolError::TooLong)
                    ));
                } else {
                    prop_assert_eq!(Request::decode(line.as_bytes()).unwrap(), request);
                }
            }
        }
    }
}
