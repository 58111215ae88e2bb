//! One client connection: check who is calling, read request lines, pass
//! them to the session task, write one reply for each; after a subscribe,
//! stream updates. A bad line gets an error reply and never harms the
//! daemon.
//!
//! At most [`MAX_CONNECTIONS`] are served at once. When a new client comes
//! and every place is taken, the connection that has waited longest for
//! its client to send a request (an idle one, or one that sent half a line)
//! is closed to make room, so clients that hold connections open and send
//! nothing can never keep the daemon from answering others.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::session_handle::{Outcome, SessionHandle};
use super::shutdown::Shutdown;
use crate::protocol::{ErrorKind, MAX_LINE, Request, Response};

/// How many connections are served at once: room for a few hundred
/// clients, and for their file descriptors well within the usual limit of
/// 1024.
pub(super) const MAX_CONNECTIONS: usize = 256;

/// An error reply longer than this is shortened so that its line stays
/// within [`MAX_LINE`], however much JSON escaping its text needs.
const MAX_MESSAGE_BYTES: usize = MAX_LINE / 8;

/// Once a request line has begun, the rest must arrive within this time.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply that cannot be written within this time (a client that stopped
/// reading) ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection needs from the daemon.
#[derive(Debug, Clone)]
pub(super) struct Context {
    pub(super) uid: u32,
    pub(super) session: SessionHandle,
    /// Asks the daemon to shut down.
    pub(super) shutdown_request: mpsc::Sender<()>,
}

/// Why no request line could be read.
#[derive(Debug)]
enum LineError {
    TooLong,
    /// The peer hung up in the middle of a line.
    CutShort,
    /// The line did not finish within [`LINE_TIMEOUT`].
    Stalled,
    Io(io::Error),
}

/// What a connection is waiting for; connections are closed to make room
/// in this order, the longest waiting first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Waiting {
    /// Its client: for a request, or for the rest of one.
    Client,
    /// Updates: a subscriber listens and sends nothing.
    Updates,
    /// The daemon: a request is being carried out or answered. Never
    /// closed to make room; it is over within the reply's time limit.
    Daemon,
}

#[derive(Debug)]
struct Entry {
    waiting: Waiting,
    since: Instant,
    close: CancellationToken,
}

#[derive(Debug, Default)]
struct Entries {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

/// The connections being served.
#[derive(Debug, Default)]
pub(super) struct Connections {
    entries: Mutex<Entries>,
}

impl Connections {
    /// A place for a new connection. When all [`MAX_CONNECTIONS`] are
    /// taken, the one that has waited longest for its client (then the
    /// longest-standing subscriber) is told to close. `None` when every
    /// connection is busy with a request.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Place> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.open.len() >= MAX_CONNECTIONS {
            let (&id, _) = entries
                .open
                .iter()
                .filter(|(_, entry)| entry.waiting != Waiting::Daemon)
                .min_by_key(|(_, entry)| (entry.waiting, entry.since))?;
            if let Some(entry) = entries.open.remove(&id) {
                entry.close.cancel();
            }
        }
        let id = entries.next_id;
        entries.next_id += 1;
        let close = CancellationToken::new();
        entries.open.insert(
            id,
            Entry {
                waiting: Waiting::Client,
                since: Instant::now(),
                close: close.clone(),
            },
        );
        Some(Place {
            id,
            connections: Arc::clone(self),
            close,
        })
    }
}

/// A connection's place among those served; given up when dropped.
#[derive(Debug)]
pub(super) struct Place {
    id: u64,
    connections: Arc<Connections>,
    /// Cancelled when the connection is to close to make room.
    close: CancellationToken,
}

impl Place {
    fn waiting(&self, waiting: Waiting) {
        let mut entries = self
            .connections
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.open.get_mut(&self.id) {
            entry.waiting = waiting;
            entry.since = Instant::now();
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .remove(&self.id);
    }
}

/// Answers a connection that finds every place taken by a connection busy
/// with a request, without waiting: an error line if the socket takes it
/// at once, then the connection is closed.
pub(super) fn turn_away(stream: UnixStream) {
    let reply = Response::error(
        ErrorKind::Failed,
        format!("the daemon is busy with {MAX_CONNECTIONS} connections; try again in a moment"),
    );
    let _ = stream.try_write(reply.encode().as_bytes());
}

struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    place: Place,
}

/// Serves one connection until the client hangs up, a line is bad beyond
/// repair, the daemon shuts down, or the connection is closed to make room
/// for another.
pub(super) async fn serve(stream: UnixStream, context: Context, shutdown: Shutdown, place: Place) {
    let close = place.close.clone();
    let peer = stream.peer_cred();
    let (reader, writer) = stream.into_split();
    let mut connection = Connection {
        reader: BufReader::new(reader),
        writer,
        place,
    };
    match peer {
        Ok(cred) if cred.uid() == context.uid => {}
        Ok(cred) => {
            tracing::warn!(
                "refused a connection from user {} (pid {:?})",
                cred.uid(),
                cred.pid()
            );
            let _ = connection
                .send(&Response::error(
                    ErrorKind::Refused,
                    format!(
                        "this daemon belongs to user {}; user {} may not control it",
                        context.uid,
                        cred.uid()
                    ),
                ))
                .await;
            return;
        }
        Err(err) => {
            tracing::warn!("refused a connection whose user cannot be told: {err}");
            let _ = connection
                .send(&Response::error(
                    ErrorKind::Refused,
                    "cannot tell which user is connecting",
                ))
                .await;
            return;
        }
    }
    let ended = tokio::select! {
        ended = connection.requests(&context, shutdown) => ended,
        () = close.cancelled() => {
            tracing::debug!("closed a connection that waited longest, to make room");
            let reply = Response::error(
                ErrorKind::Failed,
                format!(
                    "closed to make room for another client: {MAX_CONNECTIONS} connections were \
                     open and this one had waited longest without a request"
                ),
            );
            // no waiting on a client that may not read
            let _ = connection.writer.try_write(reply.encode().as_bytes());
            Ok(())
        }
    };
    if let Err(err) = ended {
        tracing::debug!("connection ended: {err}");
    }
}

impl Connection {
    async fn requests(&mut self, context: &Context, mut shutdown: Shutdown) -> io::Result<()> {
        let shutdown = &mut shutdown;
        let mut line = Vec::new();
        loop {
            self.place.waiting(Waiting::Client);
            let read = tokio::select! {
                read = self.read_line(&mut line) => read,
                () = shutdown.recv() => return Ok(()),
            };
            self.place.waiting(Waiting::Daemon);
            match read {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(LineError::Io(err)) => return Err(err),
                Err(err) => {
                    let message = match err {
                        LineError::TooLong => {
                            format!("the request is longer than {MAX_LINE} bytes")
                        }
                        LineError::CutShort => {
                            "the request was cut short: it did not end with a newline".into()
                        }
                        _ => format!(
                            "the request did not finish within {} s",
                            LINE_TIMEOUT.as_secs()
                        ),
                    };
                    tracing::debug!("bad request line: {message}");
                    // The stream cannot be trusted to be at a line boundary any more.
                    let _ = self
                        .send(&Response::error(ErrorKind::BadRequest, message))
                        .await;
                    return Ok(());
                }
            }
            let (request, session) = match Request::decode_addressed(&line) {
                Ok(addressed) => addressed,
                Err(err) => {
                    self.send(&Response::error(ErrorKind::BadRequest, err.to_string()))
                        .await?;
                    continue;
                }
            };
            tracing::debug!("request: {request:?}");
            match request {
                Request::Shutdown => {
                    let reply = match context.session.ask(Request::Status).await {
                        Outcome::Reply(Response::Ok { status, .. }) => Response::Ok {
                            status,
                            message: Some("The daemon is shutting down.".into()),
                        },
                        Outcome::Reply(other) | Outcome::Subscribed(other, _) => other,
                    };
                    let _ = context.shutdown_request.try_send(());
                    return self.send(&reply).await;
                }
                Request::Subscribe => {
                    return match context.session.ask(Request::Subscribe).await {
                        Outcome::Subscribed(reply, updates) => {
                            self.send(&reply).await?;
                            self.place.waiting(Waiting::Updates);
                            self.stream(updates, context, shutdown).await
                        }
                        Outcome::Reply(reply) => self.send(&reply).await,
                    };
                }
                request => {
                    let answer = context.session.ask_for(request, session);
                    // a client that hangs up before its answer takes the
                    // request back: it is not carried out later
                    let outcome = tokio::select! {
                        outcome = answer => outcome,
                        () = hung_up(&mut self.reader) => return Ok(()),
                    };
                    match outcome {
                        Outcome::Reply(reply) | Outcome::Subscribed(reply, _) => {
                            self.send(&reply).await?
                        }
                    }
                }
            }
        }
    }

    /// Reads one line into `line`. False at a clean end of the stream. An
    /// idle connection may wait as long as it likes between lines; once a
    /// line has begun, it must be finished within [`LINE_TIMEOUT`].
    async fn read_line(&mut self, line: &mut Vec<u8>) -> Result<bool, LineError> {
        line.clear();
        if self
            .reader
            .fill_buf()
            .await
            .map_err(LineError::Io)?
            .is_empty()
        {
            return Ok(false);
        }
        let mut limited = (&mut self.reader).take(MAX_LINE as u64);
        match tokio::time::timeout(LINE_TIMEOUT, limited.read_until(b'\n', line)).await {
            Err(_) => Err(LineError::Stalled),
            Ok(Err(err)) => Err(LineError::Io(err)),
            Ok(Ok(_)) if line.ends_with(b"\n") => Ok(true),
            Ok(Ok(_)) if line.len() >= MAX_LINE => Err(LineError::TooLong),
            Ok(Ok(_)) => Err(LineError::CutShort),
        }
    }

    async fn send(&mut self, response: &Response) -> io::Result<()> {
        let line = fit_line(response);
        match tokio::time::timeout(WRITE_TIMEOUT, self.writer.write_all(line.as_bytes())).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
        }
    }

    /// Streams updates until the client hangs up or the daemon stops. A
    /// subscriber that falls behind gets the current status instead of what
    /// it missed.
    async fn stream(
        &mut self,
        mut updates: broadcast::Receiver<Response>,
        context: &Context,
        shutdown: &mut Shutdown,
    ) -> io::Result<()> {
        let mut scratch = [0u8; 512];
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(update) => self.send(&update).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Outcome::Reply(Response::Ok { status, .. }) =
                            context.session.ask(Request::Status).await
                        {
                            self.send(&Response::Update { status, cue: None }).await?;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return self.shutting_down().await,
                },
                // nothing more is expected from a subscriber; reading only
                // tells when it hangs up
                read = self.reader.read(&mut scratch) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                () = shutdown.recv() => return self.shutting_down().await,
            }
        }
    }

    /// Tells a subscriber that the daemon is shutting down, so that it
    /// knows the daemon was stopped and did not die.
    async fn shutting_down(&mut self) -> io::Result<()> {
        self.send(&Response::error(
            ErrorKind::Failed,
            "the daemon is shutting down",
        ))
        .await
    }
}

/// Returns once the client has hung up (or its connection failed); never
/// while it is there, even when it has sent more lines, which are left to
/// be read.
async fn hung_up(reader: &mut BufReader<OwnedReadHalf>) {
    match reader.fill_buf().await {
        Ok([]) => {}
        Err(_) => return,
        Ok(_) => std::future::pending().await,
    }
    // The end of its requests: the client may have closed only its
    // writing side (`nc -N`) and still wait for the answer. It has gone
    // once the socket says the other end is closed.
    loop {
        match reader.get_ref().ready(Interest::WRITABLE).await {
            Ok(ready) if !ready.is_write_closed() => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The response as one line within [`MAX_LINE`]: an error whose message
/// would make it longer (one that quotes a long routine name, say) has its
/// message shortened.
fn fit_line(response: &Response) -> String {
    let line = response.encode();
    match response {
        Response::Error { kind, message } if line.len() > MAX_LINE => {
            let mut end = MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            Response::error(
                *kind,
                format!(
                    "{}… (the rest of this {}-byte message is left out)",
                    &message[..end],
                    message.len()
                ),
            )
            .encode()
        }
        _ => line,
    }
}
