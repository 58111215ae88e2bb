//! How every long-running loop in the daemon learns that it is time to
//! stop: a broadcast channel whose sender is dropped (or sent on) once.

use tokio::sync::broadcast;

/// Listens for the daemon's shutdown signal. Each task holds its own.
#[derive(Debug)]
pub(super) struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub(super) fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify,
        }
    }

    /// Waits until shutdown is signalled; returns at once if it already was.
    pub(super) async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // a send, a lag and a closed channel all mean the same: stop
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}
