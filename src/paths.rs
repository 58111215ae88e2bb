//! Where massage-cue keeps its files: the XDG folders for the
//! configuration, state and cache, the socket, and the data folders where
//! the voice pack and the bundled routines are looked for.
//!
//! The data folders, first first: beside the program (a source checkout
//! holding `sounds/` and `routines/` around the executable), then
//! `$XDG_DATA_HOME/massage-cue` (`~/.local/share/massage-cue`), then
//! `massage-cue` in each `$XDG_DATA_DIRS` entry (by default
//! `/usr/local/share:/usr/share`), and last the `share/massage-cue` of the
//! prefix the program is installed in (`/opt/mc/bin/massage-cue`:
//! `/opt/mc/share/massage-cue`). The voice pack is the first one found;
//! bundled routines are looked for in all of them, the first of a name
//! winning. `$MASSAGE_CUE_SOUNDS` and `$MASSAGE_CUE_ROUTINES` name one
//! folder instead.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Config;

/// The application's folder name under each XDG base folder.
const APP: &str = "massage-cue";

/// The variable that names the bundled routines folder, overriding the
/// data folders.
pub const ROUTINES_VAR: &str = "MASSAGE_CUE_ROUTINES";

/// The variable that names the `sounds/` folder, overriding the data
/// folders.
pub const SOUNDS_VAR: &str = "MASSAGE_CUE_SOUNDS";

/// `$XDG_DATA_DIRS` when it is unset or empty, as the XDG base directory
/// specification gives it.
const DEFAULT_DATA_DIRS: &str = "/usr/local/share:/usr/share";

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
    pub xdg_data_home: Option<OsString>,
    pub xdg_data_dirs: Option<OsString>,
    pub tmpdir: Option<OsString>,
    /// `$MASSAGE_CUE_ROUTINES`: the bundled routines folder.
    pub routines: Option<OsString>,
    /// `$MASSAGE_CUE_SOUNDS`: the `sounds/` folder.
    pub sounds: Option<OsString>,
    /// The running executable, to find the data beside it.
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
            xdg_data_home: var("XDG_DATA_HOME"),
            xdg_data_dirs: var("XDG_DATA_DIRS"),
            tmpdir: var("TMPDIR"),
            routines: var(ROUTINES_VAR),
            sounds: var(SOUNDS_VAR),
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
    /// `$XDG_DATA_HOME/massage-cue/`: data installed for this user alone.
    pub data_home: PathBuf,
    /// Where the voice pack and the bundled routines are looked for, first
    /// first (see the module documentation).
    pub data_dirs: Vec<DataDir>,
    /// `$MASSAGE_CUE_ROUTINES`: when set, the only bundled routines folder.
    pub routines_var: Option<PathBuf>,
    /// `$MASSAGE_CUE_SOUNDS`: when set, the only `sounds/` folder.
    pub sounds_var: Option<PathBuf>,
    /// `$XDG_STATE_HOME/massage-cue/`: saved session, history, daemon log.
    pub state_dir: PathBuf,
    /// `$XDG_CACHE_HOME/massage-cue/`: rendered speech.
    pub cache_dir: PathBuf,
    /// `$XDG_RUNTIME_DIR/massage-cue.sock`, or the private fallback.
    pub socket: PathBuf,
    /// Whether `socket` is in the fallback folder that massage-cue creates
    /// and must keep private itself.
    pub private_socket_dir: bool,
    /// Whether `socket` is the one `[daemon] socket` names, whose folder is
    /// checked before a daemon listens there.
    pub configured_socket: bool,
}

/// A folder where massage-cue's data (`sounds/`, `routines/`) may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub path: PathBuf,
    pub from: DataFrom,
}

/// Why a data folder is looked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFrom {
    /// Found around the executable: a source checkout (searched first), or
    /// the `share/massage-cue` of the prefix it is installed in (last).
    Program,
    /// `$XDG_DATA_HOME`.
    DataHome,
    /// An entry of `$XDG_DATA_DIRS`.
    DataDirs,
}

impl fmt::Display for DataFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataFrom::Program => "beside the program",
            DataFrom::DataHome => "XDG_DATA_HOME",
            DataFrom::DataDirs => "XDG_DATA_DIRS",
        })
    }
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
    #[error(
        "{} is not safe for the socket set by `[daemon] socket`: {reason}; another user could put a socket of theirs at that path. Choose a folder that only you (or root) can write in",
        path.display()
    )]
    UnsafeConfigured { path: PathBuf, reason: String },
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
        let data_home = base(&env.xdg_data_home, "XDG_DATA_HOME", ".local/share")?.join(APP);
        let paths = Paths {
            config_file: config.join("config.toml"),
            user_routines: config.join("routines"),
            data_dirs: data_dirs(env, &data_home),
            data_home,
            routines_var: env.routines.as_ref().map(PathBuf::from),
            sounds_var: env.sounds.as_ref().map(PathBuf::from),
            state_dir,
            cache_dir,
            socket,
            private_socket_dir,
            configured_socket: false,
        };
        paths.check_socket_len()?;
        Ok(paths)
    }

    /// These paths with the socket that `config` names, if it names one.
    pub fn with_config(mut self, config: &Config) -> Result<Paths, PathsError> {
        if let Some(socket) = &config.daemon.socket {
            self.socket = socket.clone();
            self.private_socket_dir = false;
            self.configured_socket = true;
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

    /// The folders the bundled routines are looked for in, first first:
    /// `$MASSAGE_CUE_ROUTINES` alone when it is set, otherwise the
    /// `routines/` of every data folder that has one.
    pub fn bundled_routine_dirs(&self) -> Vec<PathBuf> {
        match &self.routines_var {
            Some(dir) => vec![dir.clone()],
            None => self.existing("routines"),
        }
    }

    /// The `sounds/` folders the voice pack may be in, first first:
    /// `$MASSAGE_CUE_SOUNDS` alone when it is set (used as given, so a wrong
    /// setting shows up instead of another pack being used quietly),
    /// otherwise the `sounds/` of every data folder that has one.
    pub fn sound_dirs(&self) -> Vec<PathBuf> {
        match &self.sounds_var {
            Some(dir) => vec![dir.clone()],
            None => self.existing("sounds"),
        }
    }

    /// `name` in every data folder where it is a folder.
    fn existing(&self, name: &str) -> Vec<PathBuf> {
        self.data_dirs
            .iter()
            .map(|dir| dir.path.join(name))
            .filter(|dir| dir.is_dir())
            .collect()
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
    /// this user that nobody else can enter. A folder named by `[daemon]
    /// socket` is refused unless it belongs to this user or to root and
    /// nobody else may write in it: in a shared folder another user could
    /// take the path first.
    pub fn ensure_socket_dir(&self, uid: u32) -> Result<(), PathsError> {
        let Some(dir) = self.socket.parent() else {
            return Ok(());
        };
        create_private_dir(dir)?;
        if self.configured_socket {
            return check_configured_socket_dir(dir, uid);
        }
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

/// Refuses the folder of a socket named by `[daemon] socket` unless it is
/// a folder (a symlink to one is followed) owned by `uid` or root in which
/// neither group nor others may write.
fn check_configured_socket_dir(dir: &Path, uid: u32) -> Result<(), PathsError> {
    let unsafe_dir = |reason: String| PathsError::UnsafeConfigured {
        path: dir.to_owned(),
        reason,
    };
    let meta = fs::metadata(dir).map_err(|e| unsafe_dir(e.to_string()))?;
    if !meta.file_type().is_dir() {
        return Err(unsafe_dir("it is not a folder".into()));
    }
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(unsafe_dir(format!(
            "it belongs to user {}, not {uid}",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "its mode is {:o}, so {} may create files in it",
            mode & 0o7777,
            if mode & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            }
        )));
    }
    Ok(())
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

/// The data folders in the order they are searched: a source tree around
/// the program, then `data_home`, then each absolute `$XDG_DATA_DIRS`
/// entry, then the prefix the program is installed in; each folder once.
fn data_dirs(env: &Environment, data_home: &Path) -> Vec<DataDir> {
    let mut dirs: Vec<DataDir> = Vec::new();
    let mut add = |path: PathBuf, from: DataFrom| {
        if !dirs.iter().any(|d| d.path == path) {
            dirs.push(DataDir { path, from });
        }
    };
    let exe_dir = env.exe.as_deref().and_then(Path::parent);
    if let Some(tree) = exe_dir.and_then(source_tree) {
        add(tree, DataFrom::Program);
    }
    add(data_home.to_owned(), DataFrom::DataHome);
    let list = env
        .xdg_data_dirs
        .clone()
        .unwrap_or_else(|| DEFAULT_DATA_DIRS.into());
    for dir in std::env::split_paths(&list).filter(|p| p.is_absolute()) {
        add(dir.join(APP), DataFrom::DataDirs);
    }
    // PREFIX/bin/massage-cue: PREFIX/share/massage-cue, when it exists
    if let Some(prefix) = exe_dir.and_then(Path::parent) {
        let shared = prefix.join("share").join(APP);
        if shared.is_dir() {
            add(shared, DataFrom::Program);
        }
    }
    dirs
}

/// The source tree around a program's folder (`target/debug`, or
/// `target/debug/deps` for a test binary): the nearest folder at most four
/// levels above it that holds both `routines/` and `sounds/`.
fn source_tree(exe_dir: &Path) -> Option<PathBuf> {
    exe_dir
        .ancestors()
        .take(5)
        .find(|a| a.join("routines").is_dir() && a.join("sounds").is_dir())
        .map(Path::to_owned)
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
        assert_eq!(paths.bundled_routine_dirs(), [Path::new("/b")]);
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
    fn a_configured_socket_folder_must_be_writable_by_its_owner_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shared");
        fs::create_dir(&dir).unwrap();
        let uid = rustix::process::geteuid().as_raw();
        let mut config = Config::default();
        config.daemon.socket = Some(dir.join("mc.sock"));
        let paths = Paths::resolve(&env_in(tmp.path()))
            .unwrap()
            .with_config(&config)
            .unwrap();
        assert!(paths.configured_socket);
        // the folder of a shared /tmp: anyone may create the path first
        for (mode, who) in [(0o1777, "every user"), (0o775, "its group")] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = paths.ensure_socket_dir(uid).unwrap_err().to_string();
            assert!(
                err.contains(&format!("its mode is {mode:o}, so {who} may create files")),
                "{err}"
            );
            assert!(err.contains("`[daemon] socket`"), "{err}");
        }
        // a folder of one's own that others may only enter is fine
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        paths.ensure_socket_dir(uid).unwrap();
        // another user's folder is refused (unless it is root's)
        let (owner, me) = if uid == 0 {
            let nobody = rustix::process::Uid::from_raw(65534);
            rustix::fs::chown(&dir, Some(nobody), None).unwrap();
            (65534, 0)
        } else {
            (uid, uid + 1)
        };
        let err = paths.ensure_socket_dir(me).unwrap_err().to_string();
        assert!(
            err.contains(&format!("it belongs to user {owner}, not {me}")),
            "{err}"
        );
    }

    /// The data folders of `env`, as (path, where from).
    fn data_of(env: &Environment) -> Vec<(PathBuf, DataFrom)> {
        Paths::resolve(env)
            .unwrap()
            .data_dirs
            .into_iter()
            .map(|d| (d.path, d.from))
            .collect()
    }

    #[test]
    fn data_is_looked_for_in_the_xdg_data_folders_by_default() {
        let env = Environment {
            exe: Some("/nowhere/bin/massage-cue".into()),
            ..env_in(Path::new("/h"))
        };
        assert_eq!(
            data_of(&env),
            [
                ("/h/.local/share/massage-cue".into(), DataFrom::DataHome),
                ("/usr/local/share/massage-cue".into(), DataFrom::DataDirs),
                ("/usr/share/massage-cue".into(), DataFrom::DataDirs),
            ]
        );
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(paths.data_home, Path::new("/h/.local/share/massage-cue"));
    }

    #[test]
    fn xdg_data_variables_are_honoured_in_order_skipping_relative_entries() {
        let env = Environment {
            xdg_data_home: Some("/d".into()),
            xdg_data_dirs: Some("/one:relative::/two/:/d".into()),
            ..env_in(Path::new("/h"))
        };
        assert_eq!(
            data_of(&env),
            [
                ("/d/massage-cue".into(), DataFrom::DataHome),
                ("/one/massage-cue".into(), DataFrom::DataDirs),
                ("/two/massage-cue".into(), DataFrom::DataDirs),
            ]
        );
        // a relative XDG_DATA_HOME is ignored, as the specification asks
        let env = Environment {
            xdg_data_home: Some("rel".into()),
            ..env
        };
        assert_eq!(data_of(&env)[0].0, Path::new("/h/.local/share/massage-cue"));
    }

    #[test]
    fn a_source_tree_comes_first_and_an_install_prefix_last() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        for sub in ["repo/routines", "repo/sounds", "repo/target/debug/deps"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let base = Environment {
            xdg_data_dirs: Some(dir.join("sys").into()),
            ..env_in(&dir.join("home"))
        };
        let home_data = dir.join("home/.local/share/massage-cue");
        let sys_data = dir.join("sys/massage-cue");
        // the program built in the tree, and a test binary one level deeper
        for exe in [
            "repo/target/debug/massage-cue",
            "repo/target/debug/deps/t-01",
        ] {
            let env = Environment {
                exe: Some(dir.join(exe)),
                ..base.clone()
            };
            assert_eq!(
                data_of(&env),
                [
                    (dir.join("repo"), DataFrom::Program),
                    (home_data.clone(), DataFrom::DataHome),
                    (sys_data.clone(), DataFrom::DataDirs),
                ]
            );
        }
        // installed under a prefix: its share folder comes after the XDG ones
        fs::create_dir_all(dir.join("opt/bin")).unwrap();
        fs::create_dir_all(dir.join("opt/share/massage-cue")).unwrap();
        let env = Environment {
            exe: Some(dir.join("opt/bin/massage-cue")),
            ..base.clone()
        };
        assert_eq!(
            data_of(&env),
            [
                (home_data.clone(), DataFrom::DataHome),
                (sys_data.clone(), DataFrom::DataDirs),
                (dir.join("opt/share/massage-cue"), DataFrom::Program),
            ]
        );
        // a prefix that is also a data folder is listed once, in its XDG place
        let env = Environment {
            exe: Some(dir.join("opt/bin/massage-cue")),
            xdg_data_dirs: Some(dir.join("opt/share").into()),
            ..base
        };
        assert_eq!(
            data_of(&env),
            [
                (home_data, DataFrom::DataHome),
                (dir.join("opt/share/massage-cue"), DataFrom::DataDirs),
            ]
        );
    }

    #[test]
    fn routines_and_sounds_come_from_every_data_folder_unless_a_variable_names_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let list = format!(
            "{}:{}",
            dir.join("local").display(),
            dir.join("usr").display()
        );
        let env = Environment {
            xdg_data_home: Some(dir.join("home").into()),
            xdg_data_dirs: Some(list.into()),
            ..env_in(&dir)
        };
        for sub in [
            "home/massage-cue/routines",
            "local/massage-cue/sounds",
            "usr/massage-cue/routines",
            "usr/massage-cue/sounds",
        ] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(
            paths.bundled_routine_dirs(),
            [
                dir.join("home/massage-cue/routines"),
                dir.join("usr/massage-cue/routines")
            ]
        );
        assert_eq!(
            paths.sound_dirs(),
            [
                dir.join("local/massage-cue/sounds"),
                dir.join("usr/massage-cue/sounds")
            ]
        );
        let env = Environment {
            routines: Some("/r".into()),
            sounds: Some("/s".into()),
            ..env
        };
        let paths = Paths::resolve(&env).unwrap();
        assert_eq!(paths.bundled_routine_dirs(), [Path::new("/r")]);
        assert_eq!(paths.sound_dirs(), [Path::new("/s")]);
    }
}
