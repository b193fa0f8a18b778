//! Process, port and path helpers (std only; signals through the `kill` command).

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The workspace root (parent of the xtask crate).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo target directory (`$CARGO_TARGET_DIR` or `<workspace>/target`).
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The cargo executable that runs us (`$CARGO`), or `cargo`.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A command as a shell line (its added environment first), for the log.
pub(crate) fn shown(cmd: &Command) -> String {
    let env: String = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={} ", k.to_str()?, v?.to_str()?)))
        .collect();
    let line: Vec<_> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect();
    format!("{env}{}", line.join(" "))
}

/// Whether something already uses `port` on the loopback interface.
pub(crate) fn port_busy(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
        return true;
    }
    TcpListener::bind(addr).is_err()
}

/// Whether a TCP connection to `127.0.0.1:port` succeeds.
pub(crate) fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// A server process, either our own child or one recorded by an earlier run.
#[derive(Debug)]
pub(crate) struct Proc {
    /// Human name for messages.
    pub(crate) name: &'static str,
    /// Process id.
    pub(crate) pid: u32,
    /// Text the process's command line must contain before we signal it (guards
    /// against a recycled PID).
    pub(crate) exe_marker: &'static str,
    /// The child handle when we started it in this process (needed to reap it).
    pub(crate) child: Option<Child>,
}

impl Proc {
    /// Whether the process is still running (zombies count as gone).
    pub(crate) fn alive(&mut self) -> bool {
        if let Some(child) = &mut self.child {
            return matches!(child.try_wait(), Ok(None));
        }
        pid_alive(self.pid) && self.is_ours()
    }

    /// Whether the PID still belongs to the expected executable. Always true where this
    /// cannot be checked (no `/proc`).
    fn is_ours(&self) -> bool {
        match fs::read(format!("/proc/{}/cmdline", self.pid)) {
            Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains(self.exe_marker),
            Err(_) => !Path::new("/proc/self").exists(),
        }
    }

    /// Sends `signal` (`TERM`, `KILL`) to the process.
    pub(crate) fn signal(&mut self, signal: &str) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-s", signal, &self.pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Stops the process: SIGTERM, wait up to `grace`, then SIGKILL. Returns whether
    /// SIGKILL was needed.
    pub(crate) fn stop(&mut self, grace: Duration) -> bool {
        if !self.alive() {
            return false;
        }
        self.signal("TERM");
        if wait_until(grace, Duration::from_millis(100), || !self.alive()) {
            return false;
        }
        eprintln!(
            "xtask: {} (pid {}) still running after {:?}; sending SIGKILL",
            self.name, self.pid, grace
        );
        self.signal("KILL");
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            !self.alive()
        });
        if let Some(child) = &mut self.child {
            let _ = child.wait();
        }
        true
    }
}

/// Whether `pid` names a live, non-zombie process.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state letter follows the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        return !matches!(state, Some('Z' | 'X'));
    }
    if Path::new("/proc/self").exists() {
        return false;
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Polls `done` every `step` until it returns true or `limit` passes.
pub(crate) fn wait_until(limit: Duration, step: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(step);
    }
}

/// PIDs of running `cargo install` processes whose `--root` is `root` (Linux; empty where
/// `/proc` is missing).
pub(crate) fn cargo_installs_into(root: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_cargo = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .is_some_and(|n| n == "cargo");
        if !is_cargo || !args.iter().any(|a| a == "install") {
            continue;
        }
        let cwd = fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if install_root_arg(&args).is_some_and(|r| {
            let r = cwd.join(r);
            fs::canonicalize(&r).unwrap_or(r) == want
        }) {
            pids.push(pid);
        }
    }
    pids
}

/// The value of `--root` in a command line.
fn install_root_arg(args: &[String]) -> Option<&str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == "--root" {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix("--root=")
        }
    })
}

/// The last `lines` lines of a text file (for diagnostics).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = strip_ansi(&String::from_utf8_lossy(&bytes));
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// How full a filesystem is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DiskUsage {
    /// `(total - available) / total`, as the broker's store counts it.
    pub(crate) used: f64,
    /// Bytes an unprivileged writer may still use.
    pub(crate) available: u64,
}

/// How full the filesystem holding `path` is (from `df -Pk`); `None` when `df` cannot tell.
pub(crate) fn disk_usage(path: &Path) -> Option<DiskUsage> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.lines().nth(1)?.split_whitespace().collect();
    let total: u64 = fields.get(1)?.parse().ok()?;
    let available: u64 = fields.get(3)?.parse().ok()?;
    (total > 0 && available <= total).then(|| DiskUsage {
        used: (total - available) as f64 / total as f64,
        available: available.saturating_mul(1024),
    })
}

/// The first `max` lines of the file at `path` containing any of `needles` (ANSI escapes
/// removed); empty when there are none or the file cannot be read.
pub(crate) fn grep(path: &Path, needles: &[&str], max: usize) -> String {
    let Ok(bytes) = fs::read(path) else {
        return String::new();
    };
    let text = strip_ansi(&String::from_utf8_lossy(&bytes));
    text.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .take(max)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes ANSI escape sequences (`ESC [ ... final-byte`), which the servers write into
/// their logs.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "2026  INFO x"
        );
    }

    #[test]
    fn grep_finds_the_cause_lines_without_escapes() {
        let path = std::env::temp_dir().join(format!("xtask-grep-{}.log", std::process::id()));
        fs::write(
            &path,
            "a INFO start\nb \u{1b}[31m ERROR\u{1b}[0m x\nc WARN Rolling back cause=port\nd ERROR y\n",
        )
        .unwrap();
        let found = grep(&path, &[" ERROR ", "cause="], 2);
        fs::remove_file(&path).unwrap();
        assert_eq!(found, "b  ERROR x\nc WARN Rolling back cause=port");
        assert_eq!(grep(Path::new("/nonexistent/x.log"), &["a"], 5), "");
    }

    #[test]
    fn disk_usage_is_a_fraction() {
        let usage = disk_usage(&std::env::temp_dir()).expect("df works here");
        assert!((0.0..=1.0).contains(&usage.used), "{usage:?}");
        assert!(usage.available > 0, "{usage:?}");
        assert_eq!(disk_usage(Path::new("/nonexistent/dir")), None);
    }

    #[test]
    fn root_arg_forms() {
        let args = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            install_root_arg(&args("cargo install --root /x a")),
            Some("/x")
        );
        assert_eq!(
            install_root_arg(&args("cargo install --root=/y a")),
            Some("/y")
        );
        assert_eq!(install_root_arg(&args("cargo install a")), None);
    }

    #[test]
    fn own_pid_is_alive_and_port_probe_works() {
        assert!(pid_alive(std::process::id()));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(port_busy(port));
        assert!(port_open(port));
        drop(l);
    }

    #[test]
    fn reaped_child_is_not_alive() {
        let child = Command::new("true").spawn().unwrap();
        let mut p = Proc {
            name: "t",
            pid: child.id(),
            exe_marker: "true",
            child: Some(child),
        };
        assert!(wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            || !p.alive()
        ));
        assert!(!p.stop(Duration::from_secs(1)));
    }
}
