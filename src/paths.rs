//! Where massage-cue keeps its files: the XDG folders for the
//! configuration, state and cache, the socket, and the bundled routines.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Config;

/// The application's folder name under each XDG base folder.
const APP: &str = "massage-cue";

/// The longest path a Unix socket address holds (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The process environment that decides [`Paths`], gathered in one place so
/// that resolving is a pure function.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<OsString>,
    pub xdg_state_home: Option<OsString>,
    pub xdg_cache_home: Option<OsString>,
    pub xdg_runtime_dir: Option<OsString>,
    pub tmpdir: Option<OsString>,
    /// `$MASSAGE_CUE_ROUTINES`: the bundled routines folder.
    pub routines: Option<OsString>,
    /// The running executable, to find the bundled routines beside it.
    pub exe: Option<PathBuf>,
    /// The effective user id.
    pub uid: u32,
}

impl Environment {
    /// Reads the variables of this process.
    pub fn current() -> Environment {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Environment {
            // $HOME, or when it is unset the home folder of the user's
            // passwd entry
            home: var("HOME")
                .map(PathBuf::from)
                .or_else(std::env::home_dir)
                .filter(|home| !home.as_os_str().is_empty()),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            xdg_state_home: var("XDG_STATE_HOME"),
            xdg_cache_home: var("XDG_CACHE_HOME"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            tmpdir: var("TMPDIR"),
            routines: var("MASSAGE_CUE_ROUTINES"),
            exe: std::env::current_exe().ok(),
            uid: rustix::process::geteuid().as_raw(),
        }
    }
}

/// Where massage-cue keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `$XDG_CONFIG_HOME/massage-cue/config.toml`.
    pub config_file: PathBuf,
    /// `$XDG_CONFIG_HOME/massage-cue/routines/`.
    pub user_routines: PathBuf,
    /// The bundled routines: `$MASSAGE_CUE_ROUTINES`, or the `routines/`
    /// folder found beside the executable.
    pub bundled_routines: Option<PathBuf>,
    /// `$XDG_STATE_HOME/massage-cue/`: saved session, history, daemon log.
    pub state_dir: PathBuf,
    /// `$XDG_CACHE_HOME/massage-cue/`: rendered speech.
    pub cache_dir: PathBuf,
    /// `$XDG_RUNTIME_DIR/massage-cue.sock`, or the private fallback.
    pub socket: PathBuf,
    /// Whether `socket` is in the fallback folder that massage-cue creates
    /// and must keep private itself.
    pub private_socket_dir: bool,
}

/// Why the paths could not be worked out or made ready.
#[derive(Debug, Error)]
pub enum PathsError {
    #[error("HOME is not set, and neither is {0}; cannot tell where to keep files")]
    NoHome(&'static str),
    #[error(
        "the socket path {} is longer than the {MAX_SOCKET_PATH} bytes a socket address holds; set XDG_RUNTIME_DIR or `[daemon] socket` to a shorter path",
        .0.display()
    )]
    SocketPathTooLong(PathBuf),
    #[error("cannot create {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("{} is not safe for the socket: {reason}; remove it or set XDG_RUNTIME_DIR", path.display())]
    Unsafe { path: PathBuf, reason: String },
}

impl Paths {
    /// The paths for this process's environment and configuration.
    pub fn from_env() -> Result<Paths, PathsError> {
        Paths::resolve(&Environment::current())
    }

    /// The paths for a given environment. XDG variables that are unset,
    /// empty or relative are ignored, as the XDG base directory
    /// specification asks.
    pub fn resolve(env: &Environment) -> Result<Paths, PathsError> {
        let base = |var: &Option<OsString>, name: &'static str, fallback: &str| match var
            .as_ref()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            Some(path) => Ok(path),
            None => env
                .home
                .as_ref()
                .map(|home| home.join(fallback))
                .ok_or(PathsError::NoHome(name)),
        };
        let config = base(&env.xdg_config_home, "XDG_CONFIG_HOME", ".config")?.join(APP);
        let state_dir = base(&env.xdg_state_home, "XDG_STATE_HOME", ".local/state")?.join(APP);
        let cache_dir = base(&env.xdg_cache_home, "XDG_CACHE_HOME", ".cache")?.join(APP);
        let runtime = env
            .xdg_runtime_dir
            .as_ref()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let (socket, private_socket_dir) = match runtime {
            Some(dir) => (dir.join(format!("{APP}.sock")), false),
            None => {
                let tmp = env
                    .tmpdir
                    .as_ref()
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .unwrap_or_else(|| PathBuf::from("/tmp"));
                (
                    tmp.join(format!("{APP}-{}", env.uid))
                        .join(format!("{APP}.sock")),
                    true,
                )
            }
        };
        let bundled_routines = match env.routines.as_ref() {
            Some(dir) => Some(PathBuf::from(dir)),
            None => env.exe.as_deref().and_then(bundled_beside),
        };
        let paths = Paths {
            config_file: config.join("config.toml"),
            user_routines: config.join("routines"),
            bundled_routines,
            state_dir,
            cache_dir,
            socket,
            private_socket_dir,
        };
        paths.check_socket_len()?;
        Ok(paths)
    }

    /// These paths with the socket that `config` names, if it names one.
    pub fn with_config(mut self, config: &Config) -> Result<Paths, PathsError> {
        if let Some(socket) = &config.daemon.socket {
            self.socket = socket.clone();
            self.private_socket_dir = false;
            self.check_socket_len()?;
        }
        Ok(self)
    }

    fn check_socket_len(&self) -> Result<(), PathsError> {
        if self.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(PathsError::SocketPathTooLong(self.socket.clone()));
        }
        Ok(())
    }

    /// The saved position of an interrupted session.
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("session.json")
    }

    /// The session log, one JSON object a line.
    pub fn history_file(&self) -> PathBuf {
        self.state_dir.join("history.jsonl")
    }

    /// Where a detached daemon writes its log.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("daemon.log")
    }

    /// The lock a running daemon holds, beside its socket.
    pub fn lock_file(&self) -> PathBuf {
        let mut name = self.socket.clone().into_os_string();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Creates the state folder (mode 0700) if it is missing.
    pub fn ensure_state_dir(&self) -> Result<(), PathsError> {
        create_private_dir(&self.state_dir)
    }

    /// Creates the socket's folder if it is missing. The fallback folder is
    /// created with mode 0700 and refused unless it is a real folder owned by
    /// this user that nobody else can enter.
    pub fn ensure_socket_dir(&self, uid: u32) -> Result<(), PathsError> {
        let Some(dir) = self.socket.parent() else {
            return Ok(());
        };
        create_private_dir(dir)?;
        if !self.private_socket_dir {
            return Ok(());
        }
        let unsafe_dir = |reason: String| PathsError::Unsafe {
            path: dir.to_owned(),
            reason,
        };
        let meta = fs::symlink_metadata(dir).map_err(|e| unsafe_dir(e.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(unsafe_dir("it is not a folder".into()));
        }
        if meta.uid() != uid {
            return Err(unsafe_dir(format!(
                "it belongs to user {}, not {uid}",
                meta.uid()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(unsafe_dir(format!(
                "its mode is {:o}; it must be 700",
                meta.permissions().mode() & 0o777
            )));
        }
        Ok(())
    }
}

/// Creates `dir` and its parents; the folders created get mode 0700.
fn create_private_dir(dir: &Path) -> Result<(), PathsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PathsError::Create {
            path: dir.to_owned(),
            source,
        })
}

/// The bundled `routines/` folder for an executable: in a source tree
/// (`target/debug/massage-cue`) the nearest folder above it holding both
/// `routines/` and `sounds/`; when installed, `../share/massage-cue/routines`.
fn bundled_beside(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    for ancestor in dir.ancestors().take(5) {
        if ancestor.join("routines").is_dir() && ancestor.join("sounds").is_dir() {
            return Some(ancestor.join("routines"));
        }
    }
    let shared = dir.parent()?.join("share").join(APP).join("routines");
    shared.is_dir().then_some(shared)
}

/// A user with home `dir`, uid 1234, and no XDG variables, for tests.
#[cfg(test)]
pub(crate) fn env_in(dir: &Path) -> Environment {
    Environment {
        home: Some(dir.to_owned()),
        uid: 1234,
        ..Environment::default()
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn xdg_variables_are_honoured() {
        let env = Environment {
            xdg_config_home: Some("/c".into()),
            xdg_state_home: Some("/s".into()),
            xdg_cache_home: Some("/k".into()),
            xdg_runtime_dir: Some("/r".into()),
            routines: Some("/b".into()),
            ..env_in(Path::new("/h"))
        };
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(paths.config_file, Path::new("/c/massage-cue/config.toml"));
        assert_eq!(paths.user_routines, Path::new("/c/massage-cue/routines"));
        assert_eq!(paths.state_dir, Path::new("/s/massage-cue"));
        assert_eq!(paths.cache_dir, Path::new("/k/massage-cue"));
        assert_eq!(paths.socket, Path::new("/r/massage-cue.sock"));
        assert!(!paths.private_socket_dir);
        assert_eq!(paths.bundled_routines.as_deref(), Some(Path::new("/b")));
        assert_eq!(paths.state_file(), Path::new("/s/massage-cue/session.json"));
        assert_eq!(
            paths.history_file(),
            Path::new("/s/massage-cue/history.jsonl")
        );
        assert_eq!(paths.lock_file(), Path::new("/r/massage-cue.sock.lock"));
    }

    #[test]
    fn unset_or_relative_variables_fall_back_to_home_and_tmp() {
        let env = Environment {
            xdg_config_home: Some("relative".into()),
            ..env_in(Path::new("/h"))
        };
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(
            paths.config_file,
            Path::new("/h/.config/massage-cue/config.toml")
        );
        assert_eq!(paths.state_dir, Path::new("/h/.local/state/massage-cue"));
        assert_eq!(paths.cache_dir, Path::new("/h/.cache/massage-cue"));
        assert_eq!(
            paths.socket,
            Path::new("/tmp/massage-cue-1234/massage-cue.sock")
        );
        assert!(paths.private_socket_dir);
        let env = Environment {
            tmpdir: Some("/var/tmp".into()),
            ..env
        };
        assert_eq!(
            Paths::resolve(&env).unwrap().socket,
            Path::new("/var/tmp/massage-cue-1234/massage-cue.sock")
        );
    }

    #[test]
    fn no_home_and_no_xdg_is_an_error() {
        let env = Environment::default();
        assert!(matches!(
            Paths::resolve(&env),
            Err(PathsError::NoHome("XDG_CONFIG_HOME"))
        ));
    }

    #[test]
    fn a_socket_path_too_long_is_refused() {
        let env = Environment {
            xdg_runtime_dir: Some(format!("/{}", "x".repeat(100)).into()),
            ..env_in(Path::new("/h"))
        };
        assert!(matches!(
            Paths::resolve(&env),
            Err(PathsError::SocketPathTooLong(_))
        ));
    }

    #[test]
    fn the_config_may_name_the_socket() {
        let paths = Paths::resolve(&env_in(Path::new("/h"))).unwrap();
        let mut config = Config::default();
        config.daemon.socket = Some("/run/mine.sock".into());
        let paths = paths.with_config(&config).unwrap();
        assert_eq!(paths.socket, Path::new("/run/mine.sock"));
        assert!(!paths.private_socket_dir);
    }

    #[test]
    fn the_private_socket_dir_is_created_0700_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let uid = rustix::process::geteuid().as_raw();
        let env = Environment {
            tmpdir: Some(dir.clone().into()),
            uid,
            ..env_in(&dir)
        };
        let paths = Paths::resolve(&env).unwrap();
        paths.ensure_socket_dir(uid).unwrap();
        let socket_dir = paths.socket.parent().unwrap();
        let mode = fs::metadata(socket_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        fs::set_permissions(socket_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = paths.ensure_socket_dir(uid).unwrap_err();
        assert!(err.to_string().contains("mode is 755"), "{err}");

        fs::set_permissions(socket_dir, fs::Permissions::from_mode(0o700)).unwrap();
        let err = paths.ensure_socket_dir(uid + 1).unwrap_err();
        assert!(err.to_string().contains("belongs to user"), "{err}");
    }

    #[test]
    fn bundled_routines_are_found_beside_the_executable_in_the_source_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir_all(dir.join("routines")).unwrap();
        fs::create_dir_all(dir.join("sounds")).unwrap();
        fs::create_dir_all(dir.join("target/debug")).unwrap();
        let exe = dir.join("target/debug/massage-cue");
        assert_eq!(bundled_beside(&exe), Some(dir.join("routines")));
    }
}
