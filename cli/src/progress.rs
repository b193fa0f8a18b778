//! The progress bar of long runs (`produce`, `consume`): count, rate and, when the total is
//! known, a bar and the time left. Shown only when stderr is a terminal; elsewhere (a pipe,
//! a file, CI) nothing is drawn and nothing runs.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Redraws per second at most.
const REDRAW_HZ: u8 = 5;
/// How often a bar without a total ticks, so its rate and time stay current while nothing
/// moves.
const TICK: Duration = Duration::from_millis(200);

/// How often the count is handed to the bar at most (callers update per message).
const UPDATE_EVERY: Duration = Duration::from_millis(50);

/// A progress bar, or nothing.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    updated: Option<Instant>,
    /// Whether the bar is on stderr, which then needs a new line after the last state.
    on_stderr: bool,
}

impl Progress {
    /// A bar counting `unit`s on stderr when stderr is a terminal and `enabled`; out of
    /// `total` when it is known.
    pub fn stderr(enabled: bool, total: Option<u64>, unit: &'static str) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self::hidden();
        }
        Self {
            on_stderr: true,
            ..Self::to(
                ProgressDrawTarget::stderr_with_hz(REDRAW_HZ),
                total,
                unit,
                true,
            )
        }
    }

    /// A bar drawn on `target` (tests draw into memory), without a ticking thread unless
    /// `tick`.
    pub fn to(
        target: ProgressDrawTarget,
        total: Option<u64>,
        unit: &'static str,
        tick: bool,
    ) -> Self {
        let rate = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} {unit}/s", state.per_sec());
        };
        let template = match total {
            Some(_) => "{pos}/{len} {unit} [{bar:30}] {rate}, {elapsed} elapsed, {eta} left{msg}",
            None => "{spinner} {pos} {unit} {rate}, {elapsed} elapsed{msg}",
        };
        // The template is a constant: a failure to parse it would be a bug caught by the
        // tests, and costs only the bar.
        let Ok(style) = ProgressStyle::with_template(template) else {
            return Self::hidden();
        };
        let style = style
            .with_key("rate", rate)
            .with_key(
                "unit",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(unit);
                },
            )
            .progress_chars("=> ");
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), target),
            None => ProgressBar::with_draw_target(None, target),
        }
        .with_style(style);
        if tick {
            bar.enable_steady_tick(TICK);
        }
        Self {
            bar: Some(bar),
            updated: None,
            on_stderr: false,
        }
    }

    /// No bar.
    pub fn hidden() -> Self {
        Self {
            bar: None,
            updated: None,
            on_stderr: false,
        }
    }

    /// Whether a bar is drawn.
    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }

    /// Sets the count done and what follows the rate (e.g. `, 3 failed`); cheap to call
    /// per message (the bar takes it at most every 50 ms).
    pub fn update(&mut self, done: u64, extra: impl FnOnce() -> String) {
        if self.bar.is_none() || !self.due(Instant::now()) {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(extra());
        }
    }

    /// Whether an update at `now` is taken (and if so, the last one taken is `now`).
    fn due(&mut self, now: Instant) -> bool {
        if self
            .updated
            .is_some_and(|at| now.saturating_duration_since(at) < UPDATE_EVERY)
        {
            return false;
        }
        self.updated = Some(now);
        true
    }

    /// Draws the final count and the run's mean rate, and leaves them on screen.
    pub fn finish(&mut self, done: u64, extra: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(extra());
            bar.abandon();
            if self.on_stderr {
                // What follows (the summary) starts on a line of its own.
                eprintln!();
            }
        }
    }

    /// Removes the bar (a run that failed says why instead).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    #[test]
    fn a_bar_with_a_total_shows_count_rate_and_time_left() {
        let term = InMemoryTerm::new(4, 120);
        let mut p = Progress::to(
            ProgressDrawTarget::term_like(Box::new(term.clone())),
            Some(1000),
            "msgs",
            false,
        );
        assert!(p.is_shown());
        p.update(100, String::new);
        p.finish(250, || ", 2 failed".into());
        let shown = term.contents();
        assert!(shown.starts_with("250/1000 msgs ["), "{shown}");
        assert!(shown.contains("msgs/s,"), "{shown}");
        assert!(shown.contains("left, 2 failed"), "{shown}");
        let rate: f64 = shown
            .split("] ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no rate in {shown}"));
        assert!(rate > 0.0, "{shown}");
    }

    #[test]
    fn a_bar_without_a_total_counts() {
        let term = InMemoryTerm::new(4, 120);
        let mut p = Progress::to(
            ProgressDrawTarget::term_like(Box::new(term.clone())),
            None,
            "messages",
            false,
        );
        p.finish(42, String::new);
        let shown = term.contents();
        assert!(shown.contains(" 42 messages "), "{shown}");
        assert!(shown.contains("messages/s, "), "{shown}");
        assert!(!shown.contains('['), "no bar without a total: {shown}");
    }

    #[test]
    fn updates_are_taken_at_most_every_50_ms() {
        let mut p = Progress::hidden();
        let t0 = Instant::now();
        assert!(p.due(t0));
        assert!(!p.due(t0 + Duration::from_millis(49)));
        assert!(p.due(t0 + UPDATE_EVERY));
        assert!(!p.due(t0 + UPDATE_EVERY));
    }

    #[test]
    fn hidden_draws_nothing() {
        let mut p = Progress::hidden();
        assert!(!p.is_shown());
        p.update(1, || unreachable!("not asked for a message"));
        p.finish(1, || unreachable!("not asked for a message"));
        p.clear();
    }
}
