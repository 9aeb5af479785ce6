//! The blobs this process is reading now, which the collector leaves alone however long
//! the read takes. A single gateway (its own catalog) is the only reader of its blobs, so
//! it keeps a deleted or overwritten version's blobs only for the moment between a read's
//! catalog lookup and its hold, instead of a fleet's read grace: space a delete frees comes
//! back within seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The read grace of a single gateway: far longer than a read takes from its catalog lookup
/// to holding the blobs it found.
pub const SOLE_READER_GRACE_SECS: u64 = 5;

#[derive(Default)]
pub(super) struct Reading {
    held: Mutex<HashMap<String, usize>>,
}

/// Holds blobs against collection for as long as a read has it.
pub(super) struct ReadHold {
    reading: Arc<Reading>,
    blobs: Vec<String>,
}

impl Reading {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn hold(self: &Arc<Self>, blobs: Vec<String>) -> ReadHold {
        let mut held = self.held();
        for blob in &blobs {
            *held.entry(blob.clone()).or_default() += 1;
        }
        ReadHold {
            reading: self.clone(),
            blobs,
        }
    }

    pub(super) fn is_held(&self, blob: &str) -> bool {
        self.held().contains_key(blob)
    }
}

impl Drop for ReadHold {
    fn drop(&mut self) {
        let mut held = self.reading.held();
        for blob in &self.blobs {
            if let Some(n) = held.get_mut(blob) {
                *n -= 1;
                if *n == 0 {
                    held.remove(blob);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_held_while_any_read_holds_it() {
        let reading = Arc::new(Reading::default());
        let a = reading.hold(vec!["x".into(), "y".into()]);
        let b = reading.hold(vec!["x".into()]);
        drop(a);
        assert!(reading.is_held("x") && !reading.is_held("y"));
        drop(b);
        assert!(!reading.is_held("x"));
    }
}
