//! The control client: connects to the daemon's socket, sends a request,
//! reads the reply. When no daemon runs, it starts one, detached, and waits
//! for its socket.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, ErrorKind as IoErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::paths::Paths;
use crate::protocol::{ErrorKind, MAX_LINE, ProtocolError, Request, Response, Status};

/// How long a freshly started daemon gets to open its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the reply to `start` may take: the daemon first readies every
/// phrase of the session (a minute for a routine of many new phrases is
/// possible with a slow speech engine), and gives up after 120 s, saying
/// so; the client waits longer, so that it always hears how it went.
const START_REPLY_TIMEOUT: Duration = Duration::from_secs(180);

/// Why a request did not get a good answer.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the daemon at {}: {source}", socket.display())]
    Connect { socket: PathBuf, source: io::Error },
    /// What listens on the socket runs as another user: nothing is sent to
    /// it.
    #[error(
        "{} is served by a process of user {owner}, not by you (user {me}); nothing was sent to it. Another user may have put it there: remove it, or set `[daemon] socket` in a folder only you can write in",
        socket.display()
    )]
    NotYours {
        socket: PathBuf,
        owner: u32,
        me: u32,
    },
    #[error("cannot start the daemon: {0}")]
    Spawn(io::Error),
    #[error("the daemon did not open {} within {} s{}", socket.display(), START_TIMEOUT.as_secs(), log_hint(log))]
    StartTimeout { socket: PathBuf, log: PathBuf },
    #[error("the daemon exited at start ({status}){}", log_hint(log))]
    DaemonExited { status: ExitStatus, log: PathBuf },
    #[error("lost the connection to the daemon: {0}")]
    Io(#[from] io::Error),
    #[error("the daemon sent a bad reply: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the daemon closed the connection without replying")]
    Closed,
    /// The daemon answered with an error.
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
    #[error("the daemon sent an unexpected reply")]
    Unexpected,
}

/// The last lines of the daemon's log, for an error message.
fn log_hint(log: &Path) -> String {
    let tail = fs::read_to_string(log)
        .map(|text| {
            let lines: Vec<&str> = text.lines().rev().take(5).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join("\n  ")
        })
        .unwrap_or_default();
    if tail.is_empty() {
        format!("; see {}", log.display())
    } else {
        format!("; the end of {}:\n  {tail}", log.display())
    }
}

/// A connection to the daemon.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Bytes of a reply line read so far (a read may time out mid-line).
    pending: Vec<u8>,
}

impl Client {
    /// Connects to a running daemon: one of this user's. Before anything
    /// is sent, the process listening is asked for its user (the kernel's
    /// peer credentials); another user's is refused.
    pub fn connect(socket: &Path) -> Result<Client, ClientError> {
        let connect_error = |source: io::Error| ClientError::Connect {
            socket: socket.to_owned(),
            source,
        };
        let stream = UnixStream::connect(socket).map_err(connect_error)?;
        let owner = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| connect_error(e.into()))?
            .uid
            .as_raw();
        let me = rustix::process::geteuid().as_raw();
        if owner != me {
            return Err(ClientError::NotYours {
                socket: socket.to_owned(),
                owner,
                me,
            });
        }
        let setup = || -> io::Result<Client> {
            stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
            stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
            Ok(Client {
                writer: stream.try_clone()?,
                reader: BufReader::new(stream.try_clone()?),
                pending: Vec::new(),
            })
        };
        setup().map_err(connect_error)
    }

    /// Connects to the daemon if one is listening.
    pub fn connect_if_running(socket: &Path) -> Result<Option<Client>, ClientError> {
        match Client::connect(socket) {
            Ok(client) => Ok(Some(client)),
            Err(ClientError::Connect { source, .. }) if no_daemon(&source) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Connects to the daemon, starting one first when none runs.
    pub fn connect_or_start(paths: &Paths) -> Result<Client, ClientError> {
        if let Some(client) = Client::connect_if_running(&paths.socket)? {
            return Ok(client);
        }
        let mut child = spawn_daemon(paths)?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut exited = None;
        loop {
            if let Some(client) = Client::connect_if_running(&paths.socket)? {
                return Ok(client);
            }
            if exited.is_none() {
                exited = child.try_wait().map_err(ClientError::Spawn)?;
                // Exit code 1 may be a daemon started at the same moment by
                // another client winning the race: its socket is coming.
                if let Some(status) = exited
                    && status.code() != Some(1)
                {
                    return Err(ClientError::DaemonExited {
                        status,
                        log: paths.log_file(),
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(match exited {
                    Some(status) => ClientError::DaemonExited {
                        status,
                        log: paths.log_file(),
                    },
                    None => ClientError::StartTimeout {
                        socket: paths.socket.clone(),
                        log: paths.log_file(),
                    },
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a request without waiting for the reply.
    pub fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.writer.write_all(request.encode().as_bytes())?;
        Ok(())
    }

    /// Sends a request and reads its reply, whatever it says.
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        if let Err(err) = self.send(request) {
            // The daemon may have refused the connection and closed it
            // before the request was written: its reason is waiting.
            return match self.receive(Duration::from_millis(100)) {
                Ok(Some(response)) => Ok(response),
                _ => Err(err),
            };
        }
        let timeout = match request {
            Request::Start { .. } => START_REPLY_TIMEOUT,
            _ => REPLY_TIMEOUT,
        };
        self.receive(timeout)?.ok_or(ClientError::Io(io::Error::new(
            IoErrorKind::TimedOut,
            "no reply in time",
        )))
    }

    /// Sends a request; an error reply becomes [`ClientError::Refused`].
    /// Returns the status and what the daemon said.
    pub fn call(&mut self, request: &Request) -> Result<(Status, Option<String>), ClientError> {
        match self.request(request)? {
            Response::Ok { status, message } => Ok((status, message)),
            Response::Error { kind, message } => Err(ClientError::Refused { kind, message }),
            Response::Update { .. } => Err(ClientError::Unexpected),
        }
    }

    /// Reads the next line from the daemon, waiting at most `timeout`:
    /// `None` when nothing complete came in time.
    pub fn receive(&mut self, timeout: Duration) -> Result<Option<Response>, ClientError> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let limit = (MAX_LINE - self.pending.len().min(MAX_LINE)) as u64;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.pending);
        match read {
            Ok(0) if self.pending.is_empty() => Err(ClientError::Closed),
            Ok(_) if self.pending.ends_with(b"\n") => {
                let response = Response::decode(&self.pending);
                self.pending.clear();
                Ok(Some(response?))
            }
            Ok(_) if self.pending.len() >= MAX_LINE => Err(ProtocolError::TooLong.into()),
            Ok(_) => Err(ClientError::Closed),
            Err(err) if matches!(err.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut) => {
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// Whether a connect error means that no daemon is listening.
fn no_daemon(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        IoErrorKind::NotFound | IoErrorKind::ConnectionRefused
    )
}

/// Starts `massage-cue daemon --detach` in the background, its output going
/// to the log in the state folder.
pub fn spawn_daemon(paths: &Paths) -> Result<Child, ClientError> {
    paths
        .ensure_state_dir()
        .map_err(|e| ClientError::Spawn(io::Error::other(e)))?;
    let log = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(paths.log_file())
        .map_err(ClientError::Spawn)?;
    let exe = std::env::current_exe().map_err(ClientError::Spawn)?;
    let mut command = Command::new(exe);
    command
        .args(["daemon", "--detach"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(ClientError::Spawn)?)
        .stderr(log)
        .current_dir("/")
        // colours do not belong in a log file
        .env("NO_COLOR", "1");
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    command.spawn().map_err(ClientError::Spawn)
}

/// How long a daemon told to stop gets to be gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The pid of the daemon holding the lock, as its lock file gives it, when
/// that process is alive.
pub fn running_pid(paths: &Paths) -> Option<u32> {
    let pid: u32 = fs::read_to_string(paths.lock_file())
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// What `stop_daemon` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// No daemon was running.
    NotRunning,
    /// The daemon, with its pid when its lock file gave it, is gone.
    Daemon(Option<u32>),
}

/// Stops the running daemon (its session's position is saved) and waits
/// until it is gone.
pub fn stop_daemon(paths: &Paths) -> Result<Stopped, ClientError> {
    let Some(mut client) = Client::connect_if_running(&paths.socket)? else {
        return Ok(Stopped::NotRunning);
    };
    let pid = running_pid(paths);
    client.call(&Request::Shutdown)?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let listening = UnixStream::connect(&paths.socket).is_ok();
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !listening && !alive {
            return Ok(Stopped::Daemon(pid));
        }
        if Instant::now() >= deadline {
            return Err(ClientError::Io(io::Error::new(
                IoErrorKind::TimedOut,
                format!(
                    "the daemon{} was asked to stop but is still running after {} s",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                    STOP_TIMEOUT.as_secs()
                ),
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
