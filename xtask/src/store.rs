//! Where the brokers keep their message stores.
//!
//! rocketmq-rust 1.0.0's store refuses every message once the filesystem under it is 90%
//! used (`(total - available) / total`; the setting is capped there) and deletes commit log
//! files early from 85%. How full the disk is says nothing about the client, so a cluster
//! on a nearly full disk puts its stores in memory (`/dev/shm`, a tmpfs) instead of
//! failing every test with `SYSTEM_BUSY`. A store in memory is removed when the cluster
//! stops.
//!
//! `ROCKETWIRE_CLUSTER_STORE=memory` puts the stores in memory whatever the disk, `disk`
//! keeps them in the data dir (where the broker may then refuse messages).

use std::fs;
use std::path::{Path, PathBuf};

use crate::sys::{self, DiskUsage};

/// From this share used, the stores leave the data dir (some headroom below the broker's
/// 85%: builds and the tests themselves write to the same disk).
const MOVE_FROM: f64 = 0.80;
/// From this share used, the broker deletes commit log files early.
const WARN_FROM: f64 = 0.85;
/// From this share used, the broker refuses every message.
const REFUSE_FROM: f64 = 0.90;
/// A memory filesystem takes the stores only below this share used…
const MEMORY_MAX_USED: f64 = 0.50;
/// …and with at least this much room (the chaos run stores a few hundred MB).
const MEMORY_MIN_AVAILABLE: u64 = 2 << 30;

/// Where a memory filesystem is, on this platform.
fn memory_root() -> Option<&'static Path> {
    let shm = Path::new("/dev/shm");
    (cfg!(target_os = "linux") && shm.is_dir()).then_some(shm)
}

/// What to do with the stores, given how full the data dir's disk and the memory
/// filesystem are (`None`: unknown or absent).
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    /// In the data dir, with a warning to print, if any.
    DataDir(Option<String>),
    /// In memory.
    Memory,
    /// Nowhere: the broker would refuse every message.
    Refuse(String),
}

/// The environment variable that overrides the choice.
const OVERRIDE: &str = "ROCKETWIRE_CLUSTER_STORE";

fn choose(forced: Option<&str>, data: Option<DiskUsage>, memory: Option<DiskUsage>) -> Choice {
    match forced {
        Some("memory") if memory.is_some() => return Choice::Memory,
        Some("memory") => {
            return Choice::Refuse(format!(
                "{OVERRIDE}=memory, but this machine has no memory filesystem"
            ))
        }
        Some("disk") => return Choice::DataDir(None),
        Some(other) => {
            return Choice::Refuse(format!("{OVERRIDE}={other}: expected `memory` or `disk`"))
        }
        None => {}
    }
    let Some(data) = data else {
        return Choice::DataDir(None);
    };
    if data.used < MOVE_FROM {
        return Choice::DataDir(None);
    }
    if memory.is_some_and(|m| m.used < MEMORY_MAX_USED && m.available >= MEMORY_MIN_AVAILABLE) {
        return Choice::Memory;
    }
    let shown = format!("{:.1}%", data.used * 100.0);
    if data.used >= REFUSE_FROM {
        return Choice::Refuse(format!(
            "the disk of the cluster's data dir is {shown} used and no memory filesystem has \
             room: the broker refuses every message from 90% (free some space, e.g. `cargo \
             clean`)"
        ));
    }
    Choice::DataDir((data.used >= WARN_FROM).then(|| {
        format!(
            "is {shown} used: from 85% the broker deletes commit log files early, and from \
             90% it refuses messages"
        )
    }))
}

/// The root under which the brokers of the cluster whose files are in `data_dir` keep
/// their stores (`<root>/broker/store`, `<root>/broker-b/store`), and whether it is a
/// directory of its own in memory (to remove when the cluster stops).
pub(crate) fn place(data_dir: &Path) -> Result<(PathBuf, Option<PathBuf>), String> {
    let memory = memory_root();
    let forced = std::env::var(OVERRIDE).ok();
    let data = sys::disk_usage(data_dir);
    match choose(forced.as_deref(), data, memory.and_then(sys::disk_usage)) {
        Choice::DataDir(warning) => {
            if let Some(w) = warning {
                eprintln!("xtask: warning: the disk of {} {w}", data_dir.display());
            }
            Ok((data_dir.to_owned(), None))
        }
        Choice::Refuse(e) => Err(format!("{e} ({})", data_dir.display())),
        Choice::Memory => {
            let root = memory
                .expect("chosen only when present")
                .join(memory_dir_name(data_dir));
            fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
            let why = match forced {
                Some(_) => format!("{OVERRIDE}=memory"),
                None => format!(
                    "the disk of {} is {:.0}% used, and the broker refuses messages from 90%",
                    data_dir.display(),
                    data.map_or(0.0, |u| u.used * 100.0)
                ),
            };
            println!(
                "xtask: the broker stores are in memory ({why}): {} (removed when the cluster \
                 stops)",
                root.display()
            );
            Ok((root.clone(), Some(root)))
        }
    }
}

/// Removes the in-memory stores of clusters whose data dirs are gone (a cluster stopped
/// without `stop`, e.g. killed): memory is not given back otherwise.
pub(crate) fn sweep_orphans() {
    let Some(memory) = memory_root() else {
        return;
    };
    let Ok(entries) = fs::read_dir(memory) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(data_dir) = data_dir_of(&name) {
            if !data_dir.is_dir() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Prefix of the memory directories' names.
const PREFIX: &str = "rocketwire-store";

/// The name of the memory directory of the cluster in `data_dir`: the data dir, encoded, so
/// [`sweep_orphans`] can tell whether its cluster is gone.
fn memory_dir_name(data_dir: &Path) -> String {
    let mut name = String::from(PREFIX);
    for b in data_dir.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("_{b:02x}"));
        }
    }
    name
}

/// The data dir a [`memory_dir_name`] stands for.
fn data_dir_of(name: &str) -> Option<PathBuf> {
    let encoded = name.strip_prefix(PREFIX)?.as_bytes();
    let mut raw = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'_' {
            let hex = std::str::from_utf8(encoded.get(i + 1..i + 3)?).ok()?;
            raw.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            raw.push(encoded[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(raw).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(used: f64, available_gib: u64) -> Option<DiskUsage> {
        Some(DiskUsage {
            used,
            available: available_gib << 30,
        })
    }

    #[test]
    fn stores_stay_on_a_disk_with_room() {
        assert_eq!(
            choose(None, usage(0.68, 30), usage(0.0, 12)),
            Choice::DataDir(None)
        );
        assert_eq!(choose(None, None, usage(0.0, 12)), Choice::DataDir(None));
    }

    #[test]
    fn stores_go_to_memory_from_80_percent() {
        // The CI machine that refused: 92% used.
        assert_eq!(
            choose(None, usage(0.92, 20), usage(0.0, 12)),
            Choice::Memory
        );
        assert_eq!(
            choose(None, usage(0.80, 50), usage(0.3, 12)),
            Choice::Memory
        );
    }

    #[test]
    fn a_small_or_busy_memory_filesystem_is_not_used() {
        // Docker's default /dev/shm is 64 MiB.
        let tiny = Some(DiskUsage {
            used: 0.0,
            available: 64 << 20,
        });
        assert!(matches!(
            choose(None, usage(0.92, 20), tiny),
            Choice::Refuse(e) if e.contains("92.0%")
        ));
        assert!(matches!(
            choose(None, usage(0.86, 20), usage(0.6, 12)),
            Choice::DataDir(Some(w)) if w.contains("86.0%")
        ));
        assert_eq!(choose(None, usage(0.82, 20), None), Choice::DataDir(None));
    }

    #[test]
    fn the_environment_can_force_either() {
        let memory = usage(0.0, 12);
        assert_eq!(
            choose(Some("memory"), usage(0.1, 100), memory),
            Choice::Memory
        );
        assert_eq!(
            choose(Some("disk"), usage(0.92, 20), memory),
            Choice::DataDir(None)
        );
        assert!(matches!(
            choose(Some("memory"), usage(0.1, 100), None),
            Choice::Refuse(_)
        ));
        assert!(matches!(
            choose(Some("ram"), usage(0.1, 100), memory),
            Choice::Refuse(e) if e.contains("ram")
        ));
    }

    #[test]
    fn memory_dir_names_give_their_data_dir_back() {
        let dir = Path::new("/check/work/main/target/rocketwire-cluster/19876/run-17_9 x");
        let name = memory_dir_name(dir);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)),
            "{name}"
        );
        assert_eq!(data_dir_of(&name).as_deref(), Some(dir));
        assert_eq!(data_dir_of("other"), None);
        assert_eq!(data_dir_of("rocketwire-store_zz"), None);
    }
}
