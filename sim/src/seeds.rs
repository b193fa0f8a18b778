//! Which seeds a random-fault suite runs: its own default set, or the range
//! `ROCKETWIRE_SIM_SEEDS=START..END` names (what `cargo xtask sim --seeds N` sets).

/// The environment variable that overrides a suite's seeds.
pub const SEEDS_VAR: &str = "ROCKETWIRE_SIM_SEEDS";

/// The seeds `ROCKETWIRE_SIM_SEEDS=START..END` names, or `default` when it is not set.
///
/// # Panics
/// When the variable is set but is not `START..END`: a mistyped range must not pass as a
/// run of the default seeds.
pub fn seeds_or(default: impl IntoIterator<Item = u64>) -> Vec<u64> {
    match std::env::var(SEEDS_VAR) {
        Ok(spec) => parse_range(&spec)
            .unwrap_or_else(|| panic!("{SEEDS_VAR}={spec:?} is not START..END"))
            .collect(),
        Err(_) => default.into_iter().collect(),
    }
}

/// Whether the seeds were overridden (a suite may then skip assertions about its default
/// set, such as how many faults it saw).
pub fn seeds_overridden() -> bool {
    std::env::var(SEEDS_VAR).is_ok()
}

fn parse_range(spec: &str) -> Option<std::ops::Range<u64>> {
    let (a, b) = spec.split_once("..")?;
    Some(a.trim().parse().ok()?..b.trim().parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("0..100"), Some(0..100));
        assert_eq!(parse_range(" 5 .. 7"), Some(5..7));
        assert_eq!(parse_range("7"), None);
        assert_eq!(parse_range("a..b"), None);
    }
}
