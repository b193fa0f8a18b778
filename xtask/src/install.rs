//! Installing (once, cached) the namesrv and broker binaries with `cargo install`.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sys;

/// Version of the server crates.
pub(crate) const SERVER_VERSION: &str = "1.0.0";
/// namesrv crate and its binary.
pub(crate) const NAMESRV: (&str, &str) = ("rocketmq-namesrv", "rocketmq-namesrv-rust");
/// broker crate and its binary.
pub(crate) const BROKER: (&str, &str) = ("rocketmq-broker", "rocketmq-broker-rust");

/// One server to install: crate, binary, install root under the cache (`""`: the cache
/// itself), cargo features.
struct Server {
    krate: &'static str,
    bin: &'static str,
    root: &'static str,
    features: &'static str,
}

/// The namesrv (TLS is in its default features) and the broker with TLS (not a default
/// feature), which serves plain TCP as well when its config does not enable TLS. The broker
/// has its own root so that a cache made before TLS keeps its namesrv.
const SERVERS: [Server; 2] = [
    Server {
        krate: NAMESRV.0,
        bin: NAMESRV.1,
        root: "",
        features: "",
    },
    Server {
        krate: BROKER.0,
        bin: BROKER.1,
        root: "broker-tls",
        features: "tls",
    },
];

/// How long to wait for another install into the same root.
const FOREIGN_INSTALL_WAIT: Duration = Duration::from_secs(90 * 60);

/// Paths of the two server binaries.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// `rocketmq-namesrv-rust`.
    pub(crate) namesrv: PathBuf,
    /// `rocketmq-broker-rust`.
    pub(crate) broker: PathBuf,
}

/// The install root: `$ROCKETWIRE_CLUSTER_CACHE`, else
/// `${CARGO_HOME:-$HOME/.cargo}/rocketwire-cluster/<version>`.
pub(crate) fn cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    if let Some(dir) = env("ROCKETWIRE_CLUSTER_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cargo_home = match env("CARGO_HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home),
        None => {
            let home = env("HOME")
                .filter(|d| !d.is_empty())
                .ok_or("neither ROCKETWIRE_CLUSTER_CACHE, CARGO_HOME nor HOME is set")?;
            Path::new(&home).join(".cargo")
        }
    };
    Ok(cargo_home.join("rocketwire-cluster").join(SERVER_VERSION))
}

fn exe(cache: &Path, server: &Server) -> PathBuf {
    cache.join(server.root).join("bin").join(format!(
        "{}{}",
        server.bin,
        std::env::consts::EXE_SUFFIX
    ))
}

fn binaries(cache: &Path) -> Binaries {
    let [namesrv, broker] = &SERVERS;
    Binaries {
        namesrv: exe(cache, namesrv),
        broker: exe(cache, broker),
    }
}

/// The servers whose binary is missing from `cache`.
fn missing(cache: &Path) -> Vec<&'static Server> {
    SERVERS
        .iter()
        .filter(|server| !exe(cache, server).is_file())
        .collect()
}

fn describe(servers: &[&Server]) -> String {
    servers
        .iter()
        .map(|s| {
            let features = if s.features.is_empty() {
                String::new()
            } else {
                format!(" (features {})", s.features)
            };
            format!("{}@{SERVER_VERSION}{features}", s.krate)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns the cached binaries, installing the missing ones first.
pub(crate) fn ensure_installed(cache: &Path) -> Result<Binaries, String> {
    if missing(cache).is_empty() {
        return Ok(binaries(cache));
    }
    fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let _lock = InstallLock::acquire(cache)?;
    wait_for_foreign_installs(cache)?;
    let servers = missing(cache);
    if servers.is_empty() {
        return Ok(binaries(cache));
    }
    println!(
        "xtask: note: installing the test cluster servers ({}) into {}\n\
         xtask: this builds them from crates.io and takes ~15-20 minutes the first time; \
         later runs reuse the cached binaries",
        describe(&servers),
        cache.display()
    );
    let started = Instant::now();
    for server in servers {
        let root = cache.join(server.root);
        let mut install = sys::cargo();
        install
            .arg("install")
            .arg("--locked")
            .arg("--root")
            .arg(&root)
            .arg(format!("{}@{SERVER_VERSION}", server.krate));
        if !server.features.is_empty() {
            install.args(["--features", server.features]);
        }
        // Outside the workspace, so its `.cargo/config.toml` does not apply.
        fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let status = install
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cannot run cargo install: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo install {} failed ({status})",
                describe(&[server])
            ));
        }
    }
    let still = missing(cache);
    if !still.is_empty() {
        return Err(format!(
            "cargo install succeeded but {} still missing from {}",
            describe(&still),
            cache.display()
        ));
    }
    println!("xtask: servers installed in {:.0?}", started.elapsed());
    Ok(binaries(cache))
}

/// Waits while a `cargo install` started elsewhere writes into one of `cache`'s roots.
fn wait_for_foreign_installs(cache: &Path) -> Result<(), String> {
    let started = Instant::now();
    let mut announced = false;
    loop {
        let mut pids: Vec<u32> = SERVERS
            .iter()
            .flat_map(|s| sys::cargo_installs_into(&cache.join(s.root)))
            .collect();
        pids.dedup();
        if pids.is_empty() {
            return Ok(());
        }
        if !announced {
            println!(
                "xtask: another `cargo install` (pid {pids:?}) is installing into {}; waiting for it",
                cache.display()
            );
            announced = true;
        }
        if started.elapsed() > FOREIGN_INSTALL_WAIT {
            return Err(format!("gave up waiting for cargo install pid {pids:?}"));
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// An exclusive lock file (`<cache>/.rocketwire-install.lock` holding the owner's PID), so
/// two xtask runs never install at once. A lock whose owner is gone is taken over.
struct InstallLock {
    path: PathBuf,
}

impl InstallLock {
    fn acquire(cache: &Path) -> Result<Self, String> {
        let path = cache.join(".rocketwire-install.lock");
        let started = Instant::now();
        let mut announced = false;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(InstallLock { path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if sys::pid_alive(pid) => {
                            if !announced {
                                println!(
                                    "xtask: another xtask (pid {pid}) is installing the servers; waiting"
                                );
                                announced = true;
                            }
                            if started.elapsed() > FOREIGN_INSTALL_WAIT {
                                return Err(format!(
                                    "gave up waiting for the install lock {}",
                                    path.display()
                                ));
                            }
                            std::thread::sleep(Duration::from_secs(2));
                        }
                        // Stale or half-written lock: the writer died or is just writing it.
                        _ => {
                            if started.elapsed() > Duration::from_secs(2) || owner.is_some() {
                                let _ = fs::remove_file(&path);
                            }
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let all = env(&[
            ("ROCKETWIRE_CLUSTER_CACHE", "c"),
            ("CARGO_HOME", "h"),
            ("HOME", "u"),
        ]);
        assert_eq!(cache_dir(&all).unwrap(), PathBuf::from("c"));
        let cargo_home = env(&[("CARGO_HOME", "h"), ("HOME", "u")]);
        assert_eq!(
            cache_dir(&cargo_home).unwrap(),
            Path::new("h/rocketwire-cluster/1.0.0")
        );
        let home = env(&[("HOME", "u")]);
        assert_eq!(
            cache_dir(&home).unwrap(),
            Path::new("u/.cargo/rocketwire-cluster/1.0.0")
        );
        assert!(cache_dir(&env(&[])).is_err());
    }

    #[test]
    fn missing_lists_absent_binaries() {
        let dir = std::env::temp_dir().join(format!("xtask-missing-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).unwrap();
        assert_eq!(
            describe(&missing(&dir)),
            "rocketmq-namesrv@1.0.0, rocketmq-broker@1.0.0 (features tls)"
        );
        fs::write(binaries(&dir).namesrv, b"").unwrap();
        assert_eq!(
            describe(&missing(&dir)),
            "rocketmq-broker@1.0.0 (features tls)"
        );
        // A broker installed before TLS (in the cache's own bin) does not count.
        fs::write(dir.join("bin").join(BROKER.1), b"").unwrap();
        assert_eq!(missing(&dir).len(), 1);
        assert_eq!(
            binaries(&dir).broker,
            dir.join("broker-tls").join("bin").join(BROKER.1)
        );
        let lock = InstallLock::acquire(&dir).unwrap();
        assert!(dir.join(".rocketwire-install.lock").exists());
        drop(lock);
        assert!(!dir.join(".rocketwire-install.lock").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
