//! Where `consume` prints: stdout, and how much of what was written may be acknowledged.
//!
//! A message may be acknowledged only once its line is out of the process for good. Lines
//! written to a terminal or a file are (once flushed). Lines written to a pipe are not yet:
//! they sit in the pipe's buffer until the reader takes them, and a reader that exits (as
//! `head -n 100` does) leaves them there unread. Worse, a reader takes whole blocks, and
//! `head` prints only part of its last block before it exits. So for a pipe, a line counts
//! as printed ([`Sink::printed`]) once the reader took it *and then* either came back for
//! more or was still there [`SETTLE`] later; lines the reader took just before it left are
//! not counted.

use std::io::{self, Write};
use std::time::{Duration, Instant};

/// How long a reader must stay after taking a block before that block counts as printed.
/// `head` exits within milliseconds of its last read.
pub const SETTLE: Duration = Duration::from_millis(300);

/// stdout, with a count of the bytes written to it.
#[derive(Debug)]
pub struct Sink<W> {
    out: W,
    written: u64,
    pipe: Option<(Pipe, Reads)>,
}

impl Sink<io::Stdout> {
    /// Process stdout.
    pub fn stdout() -> Self {
        Self {
            out: io::stdout(),
            written: 0,
            pipe: Pipe::stdout().map(|pipe| (pipe, Reads::default())),
        }
    }
}

impl<W: Write> Sink<W> {
    /// A sink over `out`, whose bytes count as taken once written and flushed.
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: 0,
            pipe: None,
        }
    }

    /// Writes `lines` (each followed by a newline) and flushes; returns the position just
    /// past them. An error means the reader is gone or stdout failed: nothing written after
    /// it may count as printed.
    pub fn write_lines(&mut self, lines: &[String]) -> io::Result<u64> {
        for line in lines {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.written += line.len() as u64 + 1;
        }
        self.out.flush()?;
        Ok(self.written)
    }

    /// How many of the bytes written so far count as printed (see the module doc). Looks at
    /// the pipe: call it often while lines wait (every millisecond or so).
    pub fn printed(&mut self, now: Instant) -> u64 {
        match &mut self.pipe {
            Some((pipe, reads)) => {
                let taken = self.written.saturating_sub(pipe.unread());
                reads.observe(taken, now, pipe.reader_gone())
            }
            None => self.written,
        }
    }

    /// Whether stdout is a pipe whose reader has closed it: what it still holds, and what
    /// the reader took last, is never printed.
    pub fn reader_gone(&self) -> bool {
        self.pipe
            .as_ref()
            .is_some_and(|(pipe, _)| pipe.reader_gone())
    }
}

/// What a pipe's reader has taken, and how much of it counts as printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reads {
    /// Bytes taken at the last look that saw a new read.
    taken: u64,
    /// When that was.
    at: Option<Instant>,
    /// Bytes that count as printed.
    printed: u64,
}

impl Reads {
    /// Takes in a look at the pipe: `taken` bytes read so far, at `now`. What the reader
    /// took before its latest read counts as printed; so does its latest read once it is
    /// [`SETTLE`] old with the reader still there. Returns the bytes printed.
    pub fn observe(&mut self, taken: u64, now: Instant, gone: bool) -> u64 {
        if taken > self.taken {
            // A new read: the reader is done with what it took before.
            self.printed = self.printed.max(self.taken);
            self.taken = taken;
            self.at = Some(now);
        } else if !gone
            && self
                .at
                .is_some_and(|at| now.saturating_duration_since(at) >= SETTLE)
        {
            self.printed = self.taken;
        }
        self.printed
    }
}

/// stdout when it is a pipe (or FIFO).
#[derive(Debug)]
struct Pipe;

#[cfg(unix)]
impl Pipe {
    fn stdout() -> Option<Self> {
        let stat = rustix::fs::fstat(rustix::stdio::stdout()).ok()?;
        (rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Fifo)
            .then_some(Pipe)
    }

    /// Bytes in the pipe not read yet. Unknown counts as none, as for a file.
    fn unread(&self) -> u64 {
        rustix::io::ioctl_fionread(rustix::stdio::stdout()).unwrap_or(0)
    }

    fn reader_gone(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let stdout = rustix::stdio::stdout();
        let mut fds = [PollFd::new(&stdout, PollFlags::OUT)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&zero)) {
            Ok(_) => fds[0]
                .revents()
                .intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL),
            Err(_) => false,
        }
    }
}

#[cfg(not(unix))]
impl Pipe {
    fn stdout() -> Option<Self> {
        None
    }

    fn unread(&self) -> u64 {
        0
    }

    fn reader_gone(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_writer_counts_what_was_flushed_as_printed() {
        let mut sink = Sink::new(Vec::new());
        assert_eq!(sink.write_lines(&["ab".into(), "c".into()]).unwrap(), 5);
        assert_eq!(sink.printed(Instant::now()), 5);
        assert!(!sink.reader_gone());
        assert_eq!(sink.out, b"ab\nc\n");
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_an_error_and_counts_nothing() {
        let mut sink = Sink::new(Broken);
        assert!(sink.write_lines(&["x".into()]).is_err());
        assert_eq!(sink.printed(Instant::now()), 0);
    }

    #[test]
    fn a_read_counts_once_the_reader_reads_again_or_stays() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut reads = Reads::default();
        assert_eq!(reads.observe(0, t0, false), 0);
        // head-like: takes a block; not printed yet.
        assert_eq!(reads.observe(8192, ms(1), false), 0);
        assert_eq!(reads.observe(8192, ms(2), false), 0);
        // It reads again: the first block was dealt with.
        assert_eq!(reads.observe(16384, ms(3), false), 8192);
        // It leaves: its last block never counts.
        assert_eq!(reads.observe(16384, ms(400), true), 8192);
        // A reader that stays: its last block counts after SETTLE.
        let mut reads = Reads::default();
        assert_eq!(reads.observe(100, ms(10), false), 0);
        assert_eq!(reads.observe(100, ms(10 + 299), false), 0);
        assert_eq!(reads.observe(100, ms(10 + 300), false), 100);
        // Two reads seen as one: only what was seen before them counts.
        assert_eq!(reads.observe(500, ms(320), false), 100);
    }
}
