//! How the rest of the daemon talks to the session task: a handle that
//! sends it a [`Request`] and waits for its answer. Socket connections and
//! MPRIS both go through it, so there is one path for control.

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::protocol::{ErrorKind, Request, Response};

/// How many requests may wait for the session task at once.
const INBOX: usize = 32;

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
    /// The session it is meant for, when the client named one.
    pub(super) session: Option<u64>,
    /// When it was sent, so that one that waited past any client's
    /// patience is refused rather than carried out late.
    pub(super) sent: std::time::Instant,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// A way to the session task; clones share it.
#[derive(Debug, Clone)]
pub(super) struct SessionHandle {
    inbox: mpsc::Sender<Message>,
}

impl SessionHandle {
    /// A handle, and the inbox the session task reads.
    pub(super) fn new() -> (SessionHandle, mpsc::Receiver<Message>) {
        let (inbox, messages) = mpsc::channel(INBOX);
        (SessionHandle { inbox }, messages)
    }

    /// Sends a request to the session task and waits for its answer; once
    /// the task is gone, the answer says the daemon is shutting down.
    pub(super) async fn ask(&self, request: Request) -> Outcome {
        self.ask_for(request, None).await
    }

    /// [`SessionHandle::ask`] for the session numbered `session` only,
    /// when it names one. Dropping the future before it is answered (the
    /// client hung up) takes the request back: it is not carried out if the
    /// task has not begun it.
    pub(super) async fn ask_for(&self, request: Request, session: Option<u64>) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let gone = || {
            Outcome::Reply(Response::error(
                ErrorKind::Failed,
                "the daemon is shutting down",
            ))
        };
        let message = Message {
            request,
            session,
            sent: std::time::Instant::now(),
            reply,
        };
        if self.inbox.send(message).await.is_err() {
            return gone();
        }
        answer.await.unwrap_or_else(|_| gone())
    }
}
