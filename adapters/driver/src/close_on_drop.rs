//! [`CloseOnDrop`]: what a handle does when its last clone goes away without a `shutdown`.

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Runs a close once, when dropped, unless [`CloseOnDrop::disarm`]ed first. Handles hold one
/// (behind an `Arc` where they are cloneable), so dropping the last handle of a producer or
/// consumer closes it: the close is handed to the driver without blocking the dropping
/// thread, and the driver carries it out (offsets persisted, queues released, unregistered).
pub struct CloseOnDrop(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl CloseOnDrop {
    /// A guard that runs `close` when dropped.
    pub fn new(close: impl FnOnce() + Send + 'static) -> Self {
        Self(Mutex::new(Some(Box::new(close))))
    }

    /// The handle was closed explicitly: nothing to do on drop.
    pub fn disarm(&mut self) {
        *self.0.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let close = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(close) = close {
            close();
        }
    }
}

impl fmt::Debug for CloseOnDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseOnDrop").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn runs_once_on_drop_unless_disarmed() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = |runs: &Arc<AtomicUsize>| {
            let runs = runs.clone();
            CloseOnDrop::new(move || {
                runs.fetch_add(1, Ordering::SeqCst);
            })
        };
        let shared = Arc::new(counted(&runs));
        let clone = shared.clone();
        drop(shared);
        assert_eq!(runs.load(Ordering::SeqCst), 0, "a clone is still there");
        drop(clone);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let mut disarmed = counted(&runs);
        disarmed.disarm();
        drop(disarmed);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
