//! The background service: one per user, listening on a private Unix
//! socket, with one task that owns the session.
//!
//! Start-up claims the daemon's place before anything else runs: the lock
//! file (one daemon per user), then the socket (mode 0600; a stale one from
//! a dead daemon is replaced, a live one never). Then the accept loop runs
//! beside the session task, and MPRIS on the session D-Bus when there is
//! one, until SIGTERM, SIGINT or a shutdown request; on the way out the
//! session's position is saved and the socket removed.

mod clips;
mod connection;
mod listener;
mod listening;
mod mpris;
mod music;
mod options;
mod records;
mod session_handle;
mod session_task;
mod shutdown;
mod sound_link;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{broadcast, mpsc};

use crate::config::{Config, ConfigError};
use crate::paths::{Paths, PathsError};
use connection::{Connections, Context};
use listener::{DaemonLock, Socket};
use session_handle::SessionHandle;
use session_task::SessionTask;
use shutdown::Shutdown;

pub use options::session_options;

/// How long connections get to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A detached daemon's log is set aside when it grows past this, at start
/// and while it runs.
const MAX_LOG_BYTES: u64 = 1 << 20;

/// How the daemon runs.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// Leave the terminal: a new session, standard input from /dev/null,
    /// output to the log file in the state folder.
    pub detach: bool,
}

/// Why the daemon could not start or had to stop.
#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("a massage-cue daemon is already running{} on {}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), socket.display())]
    AlreadyRunning { socket: PathBuf, pid: Option<u32> },
    #[error("cannot take the daemon lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot listen on {}: {source}", path.display())]
    Socket { path: PathBuf, source: io::Error },
    #[error("{} exists and is not a socket; move it away or set another socket path", .0.display())]
    NotASocket(PathBuf),
    #[error("the socket {} has mode {mode:o} instead of 600; refusing to serve on it", path.display())]
    SocketMode { path: PathBuf, mode: u32 },
    #[error("cannot open the log {}: {source}", path.display())]
    Log { path: PathBuf, source: io::Error },
    #[error("the daemon failed: {0}")]
    Io(#[from] io::Error),
    #[error(
        "the session task failed ({0}); the daemon stopped, and the session's last saved position is kept for the next start"
    )]
    SessionTask(String),
}

/// glibc's environment variable that fixes the size from which an
/// allocation gets a mapping of its own (see [`memory_given_back`]).
const MMAP_THRESHOLD_VAR: &str = "MALLOC_MMAP_THRESHOLD_";

/// The size from which an allocation is a mapping of its own: glibc's
/// default starting value.
const MMAP_THRESHOLD: &str = "131072";

/// Makes sure the memory of a session's clips is given back when the
/// session ends. glibc serves a large allocation (a clip) with a mapping of
/// its own, which goes back to the system when freed, but each such free
/// raises the size from which it does so; after a session the clips of the
/// next are then carved from the heap, which stays fragmented and is never
/// given back (a daemon kept about 35 MB after sessions of a large routine,
/// against 10 MB fresh). A fixed threshold keeps clips in mappings of their
/// own. glibc reads it from the environment only at process start, so the
/// daemon runs itself again, in the same process, with it set; when that
/// fails it runs on as it is. Returns only when it did not run again.
fn memory_given_back() {
    if !cfg!(target_env = "gnu") || std::env::var_os(MMAP_THRESHOLD_VAR).is_some() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MMAP_THRESHOLD_VAR, MMAP_THRESHOLD)
        .exec();
    tracing::warn!("cannot run again with a fixed allocation threshold: {err}");
}

/// Runs the daemon until it is told to stop. Returns once the session's
/// position is saved and the socket removed.
pub fn run(options: &DaemonOptions) -> Result<(), DaemonError> {
    memory_given_back();
    let paths = Paths::from_env()?;
    let config = Config::load(&paths.config_file)?;
    let paths = paths.with_config(&config)?;
    let uid = rustix::process::geteuid().as_raw();
    paths.ensure_state_dir()?;
    paths.ensure_socket_dir(uid)?;
    // the daemon's place is claimed before it leaves the terminal, so that
    // "already running" is said where it was asked for
    // one daemon per state folder too: with the socket's lock removed (or
    // another XDG_RUNTIME_DIR), a second daemon would write the same
    // session.json and history
    let state_lock = DaemonLock::acquire(&paths.state_dir.join("daemon.lock"), &paths.socket)?;
    let lock = DaemonLock::acquire(&paths.lock_file(), &paths.socket)?;
    let (listener, socket) = Socket::bind(&paths.socket)?;
    if options.detach {
        detach(&paths)?;
    }
    tracing::info!(
        "massage-cue daemon {} listening on {} (pid {})",
        env!("CARGO_PKG_VERSION"),
        socket.path().display(),
        std::process::id()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("massage-cue")
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        let listener = UnixListener::from_std(listener)?;
        serve(listener, paths, uid, options.detach).await
    });
    // a stuck blocking task must not keep the daemon from exiting
    runtime.shutdown_timeout(DRAIN_TIMEOUT);
    socket.remove();
    drop(lock);
    drop(state_lock);
    tracing::info!("massage-cue daemon stopped");
    served
}

/// Serves connections beside the session task until shutdown.
async fn serve(
    listener: UnixListener,
    paths: Paths,
    uid: u32,
    detached: bool,
) -> Result<(), DaemonError> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;

    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    let (shutdown_request, mut shutdown_requested) = mpsc::channel::<()>(1);
    // every connection holds a clone; when all are dropped, all are done
    let (connection_done, mut connections_done) = mpsc::channel::<()>(1);
    let (session, inbox) = SessionHandle::new();

    let microphone = Arc::new(listening::Microphone::default());
    let mut task = SessionTask::new(paths.clone(), Arc::clone(&microphone));
    task.restore();
    let mut session_task =
        tokio::spawn(task.run(inbox, Shutdown::new(notify_shutdown.subscribe())));
    // media keys and desktop media controls, when there is a session bus
    tokio::spawn(mpris::serve(
        session.clone(),
        Shutdown::new(notify_shutdown.subscribe()),
    ));

    // spoken commands, while a session that asks for them is under way
    tokio::spawn(listening::serve(
        session.clone(),
        paths,
        microphone,
        Shutdown::new(notify_shutdown.subscribe()),
    ));

    let context = Context {
        uid,
        session,
        shutdown_request,
    };
    // every connection is accepted at once; when all places are taken, the
    // one that has waited longest for its client makes room
    let connections = Arc::new(Connections::default());
    let mut backoff = Duration::from_millis(10);
    let mut failed = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff = Duration::from_millis(10);
                    let Some(place) = connections.admit() else {
                        connection::turn_away(stream);
                        continue;
                    };
                    let context = context.clone();
                    let shutdown = Shutdown::new(notify_shutdown.subscribe());
                    let done = connection_done.clone();
                    tokio::spawn(async move {
                        connection::serve(stream, context, shutdown, place).await;
                        drop(done);
                    });
                }
                Err(err) => {
                    // out of file descriptors, most likely: wait, then go on
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            _ = terminate.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = interrupt.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = hangup.recv() => {
                if detached {
                    tracing::info!("SIGHUP ignored: the daemon is detached");
                } else {
                    tracing::info!("SIGHUP: shutting down");
                    break;
                }
            }
            _ = shutdown_requested.recv() => { tracing::info!("shutdown requested"); break; }
            // the task ends only when told to: it failed (a panic); a
            // daemon that cannot play must not hold the lock and answer
            // "shutting down" for good
            ended = &mut session_task => {
                let why = match ended {
                    Err(err) if err.is_panic() => "it panicked".to_owned(),
                    Err(err) => err.to_string(),
                    Ok(()) => "it ended by itself".to_owned(),
                };
                tracing::error!("the session task failed: {why}; stopping the daemon");
                failed = Some(why);
                break;
            }
        }
    }
    drop(listener);
    drop(notify_shutdown);
    drop(context);
    if failed.is_none()
        && let Err(err) = session_task.await
    {
        tracing::error!("the session task failed: {err}");
    }
    drop(connection_done);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, connections_done.recv()).await;
    match failed {
        Some(why) => Err(DaemonError::SessionTask(why)),
        None => Ok(()),
    }
}

/// Leaves the terminal: a new session (so no terminal's signals reach the
/// daemon), standard input from /dev/null, standard output and error to the
/// log file in the state folder.
fn detach(paths: &Paths) -> Result<(), DaemonError> {
    let log = paths.log_file();
    let log_error = |source: io::Error| DaemonError::Log {
        path: log.clone(),
        source,
    };
    if fs::metadata(&log).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let mut old = log.clone().into_os_string();
        old.push(".old");
        let _ = fs::rename(&log, old);
    }
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&log)
        .map_err(log_error)?;
    let null = File::open("/dev/null").map_err(log_error)?;
    // fails only when already a session leader, which is as good
    let _ = rustix::process::setsid();
    rustix::stdio::dup2_stdin(&null).map_err(|e| log_error(e.into()))?;
    rustix::stdio::dup2_stdout(&file).map_err(|e| log_error(e.into()))?;
    rustix::stdio::dup2_stderr(&file).map_err(|e| log_error(e.into()))?;
    // hold no folder busy
    let _ = std::env::set_current_dir("/");
    // a daemon runs for weeks: its log is set aside by size while it runs
    crate::logging::rotate_at(log, MAX_LOG_BYTES);
    Ok(())
}
