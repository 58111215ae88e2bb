#!/usr/bin/env python3
"""Privilege and file-system boundaries; run by scripts/boundaries, which
builds the release binary, starts a private sound server and makes the
private folder.

  boundaries.py BIN WORK ROUTINES

Prints one Markdown table row per test on stdout, progress on stderr;
exits 1 if anything did not hold.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reportrows import Report  # noqa: E402

REPORT = Report("boundaries")
log, row, FAILURES = REPORT.log, REPORT.row, REPORT.failures


class Home:
    """HOME and every XDG folder inside one private folder; commands run
    from a folder of their own inside it."""

    def __init__(self, binary, root, name, routines, bus=None):
        self.binary = binary
        self.root = os.path.join(root, name)
        self.run_dir = os.path.join(self.root, "run")
        self.cwd = os.path.join(self.root, "cwd")
        os.makedirs(self.cwd)
        os.makedirs(self.run_dir, mode=0o700)
        self.socket = os.path.join(self.run_dir, "massage-cue.sock")
        self.lock = self.socket + ".lock"
        self.state = os.path.join(self.root, "state", "massage-cue")
        self.env = dict(
            os.environ,
            HOME=self.root,
            XDG_RUNTIME_DIR=self.run_dir,
            XDG_STATE_HOME=os.path.join(self.root, "state"),
            XDG_CONFIG_HOME=os.path.join(self.root, "config"),
            XDG_CACHE_HOME=os.path.join(self.root, "cache"),
            XDG_DATA_HOME=os.path.join(self.root, "data"),
            MASSAGE_CUE_ROUTINES=routines,
            RUST_LOG="info",
            NO_COLOR="1",
        )
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        if bus:
            self.env["DBUS_SESSION_BUS_ADDRESS"] = bus

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def run(self, *args, cwd=None, prefix=(), binary=None, env=None, timeout=120):
        proc = subprocess.run([*prefix, binary or self.binary, *args], env=env or self.env,
                              cwd=cwd or self.cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
        return proc.returncode, proc.stdout.decode(errors="replace"), \
            proc.stderr.decode(errors="replace")

    def user_routine(self, name, text):
        folder = self.path("config", "massage-cue", "routines")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, name + ".toml")
        with open(path, "w") as f:
            f.write(text)
        return path


TINY = 'name = "Tiny"\n[[step]]\nname = "Press gently"\nreps = 2\ntempo = "1s"\n'


class Daemon:
    def __init__(self, home, prefix=()):
        self.home = home
        self.log_path = home.path("daemon.log")
        self.proc = subprocess.Popen([*prefix, home.binary, "daemon"], env=home.env,
                                     cwd=home.cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "ab"))
        wait_for(lambda: answers(home.socket), "the daemon's socket")
        with open(home.lock) as f:
            self.pid = int(f.read().strip())

    def ask(self, request, **fields):
        return ask(self.home.socket, request, **fields)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(ready, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"boundaries: timed out waiting for {what}")
        time.sleep(0.02)


def answers(path):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.close()
        return True
    except OSError:
        return False


def ask(path, request, **fields):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    try:
        s.sendall(json.dumps(dict(version=1, request=request, **fields)).encode() + b"\n")
        return json.loads(s.makefile("rb").readline())
    finally:
        s.close()


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- the socket ------------------------------------------------------------------

def socket_mode(binary, work, routines):
    problems = []
    starts = 0
    home = Home(binary, work, "mode", routines)
    daemon = Daemon(home)
    starts += 1
    checks = [(home.socket, 0o600), (home.lock, 0o600)]
    # a daemon started under umask 000
    loose = Home(binary, work, "mode-umask", routines)
    umask_daemon = Daemon(loose, prefix=("sh", "-c", 'umask 000; exec "$0" "$@"'))
    starts += 1
    checks += [(loose.socket, 0o600), (loose.lock, 0o600)]
    for path, want in checks:
        got = mode(path)
        if got != want:
            problems.append(f"{path} has mode {got:o}")
        if not stat.S_ISSOCK(os.lstat(path).st_mode) and path.endswith(".sock"):
            problems.append(f"{path} is not a socket")
    daemon.stop()
    umask_daemon.stop()
    # no XDG_RUNTIME_DIR: a private folder under TMPDIR
    fallback = Home(binary, work, "mode-fallback", routines)
    tmp = fallback.path("tmp")
    os.makedirs(tmp)
    del fallback.env["XDG_RUNTIME_DIR"]
    fallback.env["TMPDIR"] = tmp
    folder = os.path.join(tmp, f"massage-cue-{os.geteuid()}")
    code, out, err = fallback.run("status", "--json")
    starts += 1
    if code != 0:
        problems.append(f"status without XDG_RUNTIME_DIR: {err.strip()}")
    else:
        if mode(folder) != 0o700:
            problems.append(f"the fallback folder has mode {mode(folder):o}")
        sock = os.path.join(folder, "massage-cue.sock")
        if mode(sock) != 0o600:
            problems.append(f"the fallback socket has mode {mode(sock):o}")
        ask(sock, "shutdown")
        wait_for(lambda: not os.path.exists(sock), "the fallback daemon to stop")
    # a fallback folder others can enter is refused
    loose_tmp = fallback.path("tmp-loose")
    os.makedirs(os.path.join(loose_tmp, f"massage-cue-{os.geteuid()}"))
    os.chmod(os.path.join(loose_tmp, f"massage-cue-{os.geteuid()}"), 0o777)
    fallback.env["TMPDIR"] = loose_tmp
    code, out, err = fallback.run("status")
    if code == 0:
        problems.append("a fallback folder with mode 777 was used")
    # the daemon's own words, the last line of its log that the client shows
    reason = err.strip().splitlines()[-1].strip() if err.strip() else ""
    reason = reason.replace(loose_tmp, "$TMPDIR")
    if "not safe" not in reason:
        problems.append(f"the planted folder: {err.strip()[-200:]!r}")
    row("Boundaries: socket mode",
        "daemons started normally, under umask 000, and without XDG_RUNTIME_DIR (a folder "
        "under TMPDIR); a fallback folder of mode 777 planted before",
        f"{starts} daemons, 1 planted folder",
        "socket and lock mode 0600 every time (stat), the fallback folder 0700; the planted "
        f"folder refused (exit {code}: \"{reason[:140]}\")",
        "nothing needed", problems)


def other_user(binary, work, routines):
    problems = []
    if os.geteuid() != 0:
        row("Boundaries: another user", "a client run as `nobody`", "0",
            "skipped: running a client as another user needs root", "nothing needed", [])
        return
    home = Home(binary, work, "other-user", routines)
    daemon = Daemon(home)
    daemon.ask("start", routine="lower-back")
    # let `nobody` reach the socket's folder and a copy of the binary
    for folder in (work, home.root, home.run_dir):
        os.chmod(folder, 0o755)
    client = home.path("massage-cue")
    shutil.copy(binary, client)
    os.chmod(client, 0o755)
    as_nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    # nobody's own folders, but the owner's socket
    nobody_home = home.path("nobody")
    os.makedirs(nobody_home)
    os.chown(nobody_home, 65534, 65534)
    nobody_env = dict(home.env, HOME=nobody_home,
                      XDG_CONFIG_HOME=os.path.join(nobody_home, "config"),
                      XDG_STATE_HOME=os.path.join(nobody_home, "state"),
                      XDG_CACHE_HOME=os.path.join(nobody_home, "cache"),
                      XDG_DATA_HOME=os.path.join(nobody_home, "data"))
    tries = 0
    for command in (["status", "--json"], ["pause"], ["stop"]):
        code, out, err = home.run(*command, prefix=as_nobody, binary=client, env=nobody_env,
                                  cwd=nobody_home)
        tries += 1
        if code != 1 or "Permission denied" not in err:
            problems.append(f"mode 0600: `{' '.join(command)}` as nobody: exit {code}: {err!r}")
    # with the mode opened up, the daemon's own check refuses
    os.chmod(home.socket, 0o666)
    for command in (["status", "--json"], ["pause"], ["stop"]):
        code, out, err = home.run(*command, prefix=as_nobody, binary=client, env=nobody_env,
                                  cwd=nobody_home)
        tries += 1
        if code != 1 or "may not control it" not in err:
            problems.append(f"mode 0666: `{' '.join(command)}` as nobody: exit {code}: {err!r}")
    os.chmod(home.socket, 0o600)
    state = daemon.ask("status")["status"]["state"]
    if state != "running":
        problems.append(f"the session is {state} after the refused requests")
    refused = daemon.log().count("refused a connection from user")
    if refused < 3:
        problems.append(f"the daemon logged {refused} refusals")
    for folder in (work, home.root, home.run_dir):
        os.chmod(folder, 0o700)
    daemon.stop()
    row("Boundaries: another user",
        "`status --json`, `pause` and `stop` from a client run as `nobody` (setpriv) while a "
        "session plays: with the socket's mode 0600, then with it opened to 0666",
        f"{tries}",
        "mode 0600: the connection is not made (exit 1, Permission denied); mode 0666: the "
        "daemon's peer-uid check answers `refused` (exit 1, \"user 65534 may not control it\") "
        f"and logs it ({refused} times); the session played on",
        "nothing needed", problems)


# -- no network ---------------------------------------------------------------------

INET_TABLES = ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6",
               "icmp", "icmp6")


def socket_inodes(pid):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            found.add(m.group(1))
    return found


def table(pid, name):
    try:
        with open(f"/proc/{pid}/net/{name}") as f:
            return f.read().splitlines()[1:]
    except OSError:
        return []


def network(binary, work, routines, bus):
    problems = []
    home = Home(binary, work, "network", routines, bus=bus)
    daemon = Daemon(home)
    reply = daemon.ask("start", routine="lower-back")
    if reply.get("reply") != "ok":
        problems.append(f"start: {reply}")
    time.sleep(3)  # the sound output opens
    samples = 5
    listening, connected, inet, netlink = set(), set(), set(), set()
    for _ in range(samples):
        inodes = socket_inodes(daemon.pid)
        for name in INET_TABLES:
            for line in table(daemon.pid, name):
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    inet.add(f"{name} {fields[1]} st {fields[3]}")
        for line in table(daemon.pid, "packet"):
            fields = line.split()
            if len(fields) > 8 and fields[8] in inodes:
                inet.add("packet")
        for line in table(daemon.pid, "netlink"):
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                netlink.add(fields[9])
        for line in table(daemon.pid, "unix"):
            fields = line.split()
            if len(fields) > 6 and fields[6] in inodes:
                path = fields[7] if len(fields) > 7 else "(unnamed)"
                if int(fields[3], 16) & 0x10000:
                    listening.add(path)
                else:
                    connected.add(fields[6])
        time.sleep(1)
    ss_inet = subprocess.run(["ss", "-tulwpn"], capture_output=True, text=True).stdout
    ss_unix = subprocess.run(["ss", "-xlpn"], capture_output=True, text=True).stdout
    mine = f"pid={daemon.pid},"
    ss_inet_lines = [l for l in ss_inet.splitlines() if mine in l]
    ss_unix_lines = [l for l in ss_unix.splitlines() if mine in l]
    if inet:
        problems.append(f"network sockets: {sorted(inet)}")
    if ss_inet_lines:
        problems.append(f"ss -tulwpn shows: {ss_inet_lines}")
    if listening != {home.socket}:
        problems.append(f"listening Unix sockets: {sorted(listening)}")
    if len(ss_unix_lines) != 1 or home.socket not in ss_unix_lines[0]:
        problems.append(f"ss -xlpn shows: {ss_unix_lines}")
    state = daemon.ask("status")["status"]["state"]
    if state != "running":
        problems.append(f"the session is {state}")
    mpris = "MPRIS media controls on" in daemon.log()
    if not mpris:
        problems.append("the daemon did not reach the private session bus")
    daemon.stop()
    row("Boundaries: network listeners",
        "the daemon's sockets while a session plays through the sound server, with MPRIS on a "
        "private session D-Bus: /proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6,udplite,udplite6,"
        "icmp,icmp6,packet,netlink,unix} matched against its descriptors, and `ss -tulwpn`, "
        "`ss -xlpn`",
        f"{samples} samples a second apart",
        f"no network socket of any kind; one listening socket, its own Unix socket; "
        f"{len(connected)} Unix sockets that listen for nothing (its connections to the sound "
        f"server and the session bus, and socket pairs of its own)"
        f"{f', {len(netlink)} netlink' if netlink else ''}",
        "nothing needed", problems)


# -- names and paths ------------------------------------------------------------------

def routine_names(binary, work, routines):
    problems = []
    home = Home(binary, work, "names", routines)
    # the current folder holds routine files by the names asked for
    with open(os.path.join(home.cwd, "lower-back.toml"), "w") as f:
        f.write('name = "From the current folder"\n[[step]]\nname = "x"\nreps = 2\n')
    with open(os.path.join(home.cwd, "stray.toml"), "w") as f:
        f.write('name = "Stray"\n[[step]]\nname = "x"\nreps = 2\n')
    home.user_routine("mine", TINY)
    cases = [
        # (arguments, exit code, text expected in the output)
        (["show", "lower-back"], 0, "Lower back massage"),
        (["show", "mine"], 0, "Tiny"),
        (["show", "stray"], 2, "no routine named `stray`"),
        (["show", "passwd"], 2, "no routine named `passwd`"),
        (["show", ".."], 2, "no routine named `..`"),
        (["show", "."], 2, "no routine named `.`"),
        (["show", ""], 2, "no routine named ``"),
        (["show", "routines"], 2, "no routine named `routines`"),
        (["show", "./stray.toml"], 0, "Stray"),
        (["show", "../../../../../../../../etc/passwd"], 2, "this is not valid TOML"),
        (["show", "/etc/passwd"], 2, "this is not valid TOML"),
        (["show", "/etc/shadow-no-such"], 2, "no routine file at /etc/shadow-no-such"),
    ]
    for args, want_code, want in cases:
        code, out, err = home.run(*args)
        text = out + err
        if code != want_code or want not in text:
            problems.append(f"`{' '.join(args)}`: exit {code}: {text[:160]!r}")
        if "root:" in text:
            problems.append(f"`{' '.join(args)}` printed what the file holds")
    # cwd = /etc: a name is still only a name
    code, out, err = home.run("show", "passwd", cwd="/etc")
    if code != 2 or "no routine named" not in err:
        problems.append(f"`show passwd` in /etc: exit {code}: {err[:160]!r}")
    # the daemon: names resolve the same way, relative paths against its
    # own folder; nothing it cannot parse is echoed back
    daemon = Daemon(home)
    socket_cases = [
        ("stray", "bad_input", "no routine named"),
        ("../../../../../../../../etc/passwd", "bad_input", "not valid TOML"),
        ("/etc/passwd", "bad_input", "not valid TOML"),
        ("bad\u0000name", "bad_input", ""),
        ("/dev/zero", "bad_input", ""),
        ("mine", "ok", ""),
    ]
    for name, kind, want in socket_cases:
        reply = daemon.ask("start", routine=name)
        got = reply.get("kind", reply.get("reply"))
        if got != kind or want not in json.dumps(reply):
            problems.append(f"start {name!r} over the socket: {str(reply)[:160]}")
    daemon.ask("stop")
    daemon.stop()
    # the configuration: only the XDG one is read
    with open(os.path.join(home.cwd, "config.toml"), "w") as f:
        f.write("this is = not [ valid\n")
    with open(home.path("config.toml"), "w") as f:
        f.write("this is = not [ valid\n")
    home.env["XDG_CONFIG_HOME"] = "relative/config"
    os.makedirs(os.path.join(home.cwd, "relative/config/massage-cue"))
    with open(os.path.join(home.cwd, "relative/config/massage-cue/config.toml"), "w") as f:
        f.write("this is = not [ valid\n")
    code, out, err = home.run("list")
    config_cases = 3
    if code != 0:
        problems.append(f"a config.toml outside the XDG folder was read: {err[:160]!r}")
    row("Boundaries: routine and config paths",
        "routine names that are files in the current folder, `passwd` run from /etc, `..`, "
        "`.`, an empty name, relative and absolute paths to /etc/passwd, a NUL byte and "
        "/dev/zero, through the client and over the socket; config.toml in the current folder, "
        "in HOME and under a relative XDG_CONFIG_HOME",
        f"{len(cases) + 1 + len(socket_cases)} names, {config_cases} configuration files",
        "a bare name is looked up only in the user's and the bundled routines folders (never "
        "the current folder); a name with `/` or `.toml` is the path as named, read with the "
        "user's rights and never echoed (/etc/passwd: exit 2, only line:column of TOML errors); "
        "only $XDG_CONFIG_HOME/massage-cue/config.toml is read, a relative XDG_CONFIG_HOME "
        "ignored",
        "a pipe or device named as a routine is refused at once instead of blocking `check` "
        "(src/routine/parse.rs)", problems)


def symlinks(binary, work, routines):
    problems = []
    home = Home(binary, work, "symlinks", routines)
    victims = {}

    def victim(name):
        path = home.path(f"victim-{name}")
        with open(path, "w") as f:
            f.write("untouched\n")
        victims[name] = path
        return path

    # the lock file
    os.symlink(victim("lock"), home.lock)
    code, out, err = home.run("daemon", timeout=20)
    if code != 1 or "cannot take the daemon lock" not in err:
        problems.append(f"a symlinked lock file: daemon exit {code}: {err[-160:]!r}")
    os.unlink(home.lock)
    # the socket path: a symlink to a socket elsewhere is not replaced
    other = home.path("other.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(other)
    os.symlink(other, home.socket)
    code, out, err = home.run("daemon", timeout=20)
    if code != 1 or "not a socket" not in err or not os.path.islink(home.socket):
        problems.append(f"a symlink at the socket path: exit {code}: {err[-160:]!r}")
    os.unlink(home.socket)
    listener.close()
    # the saved session and its temporary file, while a session plays
    daemon = Daemon(home)
    daemon.ask("start", routine="lower-back")
    saved = os.path.join(home.state, "session.json")
    wait_for(lambda: os.path.exists(saved), "the first save")
    os.unlink(saved)
    os.symlink(victim("session"), saved)
    os.symlink(victim("session-tmp"), saved + ".tmp")
    saves = 0
    for request in ("pause", "resume", "next", "pause"):
        daemon.ask(request)
        saves += 1
    if os.path.islink(saved) or not os.path.isfile(saved):
        problems.append("session.json is still a symlink after saves")
    # the history: appended to where the user's symlink points
    history = os.path.join(home.state, "history.jsonl")
    os.symlink(victim("history"), history)
    daemon.ask("stop")
    daemon.stop()
    for name in ("lock", "session", "session-tmp"):
        with open(victims[name]) as f:
            if f.read() != "untouched\n":
                problems.append(f"written through the symlinked {name} file")
    with open(victims["history"]) as f:
        history_followed = f.read() != "untouched\n"
    row("Boundaries: symlinked files",
        "symlinks to files elsewhere planted as the lock file, the socket path, session.json and "
        "session.json.tmp (during a session, then pause, resume, next, pause) and "
        "history.jsonl",
        f"5 symlinks, {saves} saves",
        "lock: the daemon refuses to start (O_NOFOLLOW), target untouched; socket path: "
        "\"not a socket\", left alone; saves: the rename replaced session.json's symlink, the "
        "temporary file's symlink was removed, both targets untouched; history.jsonl is "
        + ("appended through the user's symlink, as a shell's history is"
           if history_followed else "not written through"),
        "the lock file is opened with O_NOFOLLOW (src/daemon/listener.rs; before, a symlink made "
        "the daemon truncate its target and write its pid there); the temporary file of a save "
        "is created afresh (src/state.rs; before, its symlink was written through)", problems)


# -- writes outside the XDG folders ------------------------------------------------------

WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
PATH_CALLS = {
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "link", "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "fchmodat2", "chown",
    "lchown", "fchownat", "truncate", "utime", "utimes", "utimensat", "futimesat", "mknod",
    "mknodat", "setxattr", "lsetxattr", "removexattr", "lremovexattr",
}
OPEN_CALLS = {"open", "openat", "openat2", "creat"}
LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def traced_writes(trace, first_cwd):
    """(pid, call, path) of every successful call that wrote to the file
    system, with paths made absolute."""
    cwd = {}
    pending = {}
    writes = []
    with open(trace, errors="replace") as f:
        lines = f.read().splitlines()
    for raw in lines:
        m = re.match(r"^(\d+)\s+(.*)$", raw)
        if not m:
            continue
        pid, rest = m.group(1), m.group(2)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
        if resumed:
            rest = pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
        m = LINE.match(f"{pid} {rest}")
        if not m:
            continue
        call, args, ret = m.group(2), m.group(3), m.group(4)
        here = cwd.setdefault(pid, first_cwd)
        if call in ("clone", "clone3", "fork", "vfork") and ret.isdigit():
            cwd[ret] = here
            continue
        if ret == "?" or ret.startswith("-"):
            continue

        def absolute(p, dirfd=None):
            if p.startswith("/"):
                return os.path.normpath(p)
            base = here
            if dirfd:
                d = re.search(r"<(.*)>$", dirfd)
                if d:
                    base = d.group(1)
            return os.path.normpath(os.path.join(base, p))

        quoted = QUOTED.findall(args)
        first = args.split(",", 1)[0].strip()
        if call == "chdir" and quoted:
            cwd[pid] = absolute(quoted[0])
        elif call in OPEN_CALLS and quoted:
            if call == "creat" or any(flag in args for flag in WRITE_FLAGS):
                dirfd = first if call in ("openat", "openat2") else None
                writes.append((pid, call, absolute(quoted[0], dirfd)))
        elif call in PATH_CALLS and quoted:
            dirfd = first if call.endswith("at") or call == "renameat2" else None
            targets = quoted[-1:] if call.startswith("symlink") else quoted[:2]
            for p in targets:
                writes.append((pid, call, absolute(p, dirfd)))
        elif call == "bind":
            path = re.search(r'sun_path="((?:[^"\\]|\\.)*)"', args)
            if path and path.group(1):
                writes.append((pid, call, absolute(path.group(1))))
    return writes


def outside_xdg(binary, work, routines, bus):
    problems = []
    home = Home(binary, work, "xdg", routines, bus=bus)
    home.user_routine("tiny", TINY.replace("Press gently", "Press gently, then slide"))
    trace = os.path.join(work, "trace.log")
    b = binary
    commands = [
        "list", "show lower-back", "plan lower-back", "plan tiny --json",
        f"check {routines}/lower-back.toml", "render tiny -o tiny.wav", "say 'Hello there'",
        "history", "completions bash", "man", "service install", "schema",
        "start lower-back", "status", "status --json", "pause", "resume", "toggle", "toggle",
        "next", "prev", "repeat", "stop", "start tiny --follow", "history",
    ]
    script = "set -e\n" + "\n".join(f"{b} {c} >/dev/null" for c in commands) + "\n"
    # the daemon the first `start` started, stopped as a service manager would
    script += (f'kill -TERM "$(cat {home.lock})"\n'
               f"while [ -e {home.socket} ]; do sleep 0.05; done\n")
    with open(home.path("session.sh"), "w") as f:
        f.write(script)
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-s", "4096", "-o", trace,
         "-e", "trace=%file,bind,clone,clone3,fork,vfork",
         "bash", home.path("session.sh")],
        env=home.env, cwd=home.cwd, stdin=subprocess.DEVNULL, capture_output=True,
        timeout=300, check=False)
    if proc.returncode != 0:
        problems.append(f"the session script failed ({proc.returncode}): "
                        f"{proc.stderr.decode(errors='replace')[-300:]!r}")
    writes = traced_writes(trace, home.cwd)
    pids = {w[0] for w in writes}
    inside = [w for w in writes if w[2] == home.root or w[2].startswith(home.root + "/")]
    devices = [w for w in writes if w[2].startswith("/dev/")]
    outside = sorted({f"{call} {path}" for _, call, path in writes
                      if (_, call, path) not in inside and not path.startswith("/dev/")})
    if outside:
        problems.append("written outside the private tree: " + ", ".join(outside[:10]))
    if not writes:
        problems.append("the trace holds no writes at all")
    where = sorted({os.path.relpath(p, home.root).split("/")[0] for _, _, p in inside})
    in_cwd = sorted({os.path.relpath(p, home.cwd) for _, _, p in inside
                     if p.startswith(home.cwd + "/")})
    device_paths = sorted({p for _, _, p in devices})
    row("Boundaries: writes outside the XDG folders",
        "a whole session and every command (list, show, plan, check, render, say, history, "
        "completions, man, service install, schema, start, status, pause, resume, toggle, next, "
        "prev, repeat, stop, start --follow), the daemon started by the client and stopped by "
        "SIGTERM, all under `strace -f` with HOME and every XDG folder in a private tree; every "
        "successful open for writing, mkdir, rename, unlink, link, chmod, chown, truncate, "
        "utimensat, mknod and bind",
        f"{len(commands)} commands, {len(writes)} writing calls in {len(pids)} processes",
        f"nothing outside the tree: writes went to {', '.join(where)} under it (in cwd: "
        f"{', '.join(in_cwd) or 'nothing'}, which `render -o` was told to write), and "
        f"{len(devices)} to {', '.join(device_paths)}",
        "nothing needed", problems)


def main():
    binary, work, routines = sys.argv[1:4]
    os.chmod(work, 0o700)
    # a private session bus, so that MPRIS runs as on a desktop
    bus_dir = os.path.join(work, "bus")
    os.makedirs(bus_dir, mode=0o700)
    bus_socket = os.path.join(bus_dir, "bus")
    bus = f"unix:path={bus_socket}"
    dbus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", f"--address={bus}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(bus_socket), "the session bus")
        log("socket mode")
        socket_mode(binary, work, routines)
        log("another user")
        other_user(binary, work, routines)
        log("network listeners (about 10 s)")
        network(binary, work, routines, bus)
        log("routine and config paths")
        routine_names(binary, work, routines)
        log("symlinked files")
        symlinks(binary, work, routines)
        log("writes outside the XDG folders (a traced session, about 30 s)")
        outside_xdg(binary, work, routines, bus)
    finally:
        dbus.terminate()
        dbus.wait()
    REPORT.finish()


if __name__ == "__main__":
    main()
