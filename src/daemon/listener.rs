//! Claiming the daemon's place before serving: the lock that makes it the
//! only daemon of this user, and the socket, created private.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags, flock};
use rustix::io::Errno;
use rustix::process::umask;

use super::DaemonError;

/// The lock a running daemon holds for as long as it runs. The kernel
/// releases it when the process ends, however it ends, so a crashed daemon
/// never blocks the next one.
#[derive(Debug)]
pub(super) struct DaemonLock {
    /// Locked; closing it (as the process ends) lets the lock go.
    _file: File,
}

impl DaemonLock {
    /// Takes the lock at `path`, or says which daemon holds it.
    pub(super) fn acquire(path: &Path, socket: &Path) -> Result<DaemonLock, DaemonError> {
        let lock_error = |source: io::Error| DaemonError::Lock {
            path: path.to_owned(),
            source,
        };
        // never through a symlink: the pid is written into this file
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(lock_error)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(DaemonError::AlreadyRunning {
                    socket: socket.to_owned(),
                    pid: pid.trim().parse().ok(),
                });
            }
            Err(errno) => return Err(lock_error(errno.into())),
        }
        // the pid is only for the message a second daemon prints
        file.set_len(0).map_err(lock_error)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(lock_error)?;
        Ok(DaemonLock { _file: file })
    }
}

/// The socket file this daemon bound, so that only this file is removed at
/// exit.
#[derive(Debug)]
pub(super) struct Socket {
    path: PathBuf,
    identity: (u64, u64),
}

impl Socket {
    /// Binds the socket with mode 0600. The caller holds the daemon lock, so
    /// a socket file already there was left by a daemon that is gone and is
    /// replaced; but if something still answers on it, it is left alone.
    pub(super) fn bind(path: &Path) -> Result<(UnixListener, Socket), DaemonError> {
        let socket_error = |source: io::Error| DaemonError::Socket {
            path: path.to_owned(),
            source,
        };
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(DaemonError::NotASocket(path.to_owned()));
            }
            Ok(_) => {
                if UnixStream::connect(path).is_ok() {
                    return Err(DaemonError::AlreadyRunning {
                        socket: path.to_owned(),
                        pid: None,
                    });
                }
                tracing::info!("replacing the stale socket {}", path.display());
                fs::remove_file(path).map_err(socket_error)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(socket_error(err)),
        }
        // The socket file takes its mode from the umask at bind time; with
        // 0177 it is never, even for an instant, open to anyone else. This
        // runs before any other thread exists, so the process-wide umask
        // affects nothing else.
        let previous = umask(Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        umask(previous);
        let listener = bound.map_err(socket_error)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(socket_error)?;
        let meta = fs::metadata(path).map_err(socket_error)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode != 0o600 {
            let _ = fs::remove_file(path);
            return Err(DaemonError::SocketMode {
                path: path.to_owned(),
                mode,
            });
        }
        listener.set_nonblocking(true).map_err(socket_error)?;
        let socket = Socket {
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
        };
        Ok((listener, socket))
    }

    /// Removes the socket file, if it is still the one this daemon bound.
    pub(super) fn remove(&self) {
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => {
                if let Err(err) = fs::remove_file(&self.path) {
                    tracing::warn!("cannot remove {}: {err}", self.path.display());
                }
            }
            _ => {}
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}
