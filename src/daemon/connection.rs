//! One client connection: check who is calling, read request lines, pass
//! them to the session task, write one reply for each; after a subscribe,
//! stream updates. A bad line gets an error reply and never harms the
//! daemon.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::session_task::{Message, Outcome};
use super::shutdown::Shutdown;
use crate::protocol::{ErrorKind, MAX_LINE, Request, Response};

/// Once a request line has begun, the rest must arrive within this time.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// A reply that cannot be written within this time (a client that stopped
/// reading) ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection needs from the daemon.
#[derive(Debug, Clone)]
pub(super) struct Context {
    pub(super) uid: u32,
    pub(super) session: mpsc::Sender<Message>,
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

struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// Serves one connection until the client hangs up, a line is bad beyond
/// repair, or the daemon shuts down.
pub(super) async fn serve(stream: UnixStream, context: Context, mut shutdown: Shutdown) {
    let peer = stream.peer_cred();
    let (reader, writer) = stream.into_split();
    let mut connection = Connection {
        reader: BufReader::new(reader),
        writer,
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
    if let Err(err) = connection.requests(&context, &mut shutdown).await {
        tracing::debug!("connection ended: {err}");
    }
}

impl Connection {
    async fn requests(&mut self, context: &Context, shutdown: &mut Shutdown) -> io::Result<()> {
        let mut line = Vec::new();
        loop {
            let read = tokio::select! {
                read = self.read_line(&mut line) => read,
                () = shutdown.recv() => return Ok(()),
            };
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
            let request = match Request::decode(&line) {
                Ok(request) => request,
                Err(err) => {
                    self.send(&Response::error(ErrorKind::BadRequest, err.to_string()))
                        .await?;
                    continue;
                }
            };
            tracing::debug!("request: {request:?}");
            match request {
                Request::Shutdown => {
                    let reply = match ask(&context.session, Request::Status).await {
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
                    return match ask(&context.session, Request::Subscribe).await {
                        Outcome::Subscribed(reply, updates) => {
                            self.send(&reply).await?;
                            self.stream(updates, context, shutdown).await
                        }
                        Outcome::Reply(reply) => self.send(&reply).await,
                    };
                }
                request => match ask(&context.session, request).await {
                    Outcome::Reply(reply) | Outcome::Subscribed(reply, _) => {
                        self.send(&reply).await?
                    }
                },
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
        let line = response.encode();
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
                            ask(&context.session, Request::Status).await
                        {
                            self.send(&Response::Update { status, cue: None }).await?;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                // nothing more is expected from a subscriber; reading only
                // tells when it hangs up
                read = self.reader.read(&mut scratch) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                () = shutdown.recv() => return Ok(()),
            }
        }
    }
}

/// Sends a request to the session task and waits for its answer.
pub(super) async fn ask(session: &mpsc::Sender<Message>, request: Request) -> Outcome {
    let (reply, answer) = oneshot::channel();
    let gone = || {
        Outcome::Reply(Response::error(
            ErrorKind::Failed,
            "the daemon is shutting down",
        ))
    };
    if session.send(Message { request, reply }).await.is_err() {
        return gone();
    }
    answer.await.unwrap_or_else(|_| gone())
}
