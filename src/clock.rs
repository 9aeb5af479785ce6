//! The one source of time, injected so time-dependent behaviour is testable without waiting.

use std::sync::Arc;

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    fn now_ms(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// RFC 3339 in UTC with milliseconds, `2026-03-01T12:00:00.123Z`.
pub fn format_utc(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        // Only a year outside 0..=9999 cannot be formatted; a time that far off is still
        // worth showing rather than failing over.
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Milliseconds since the epoch as [`format_utc`] writes them.
pub fn format_ms(ms: i64) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format_utc(t),
        Err(_) => ms.to_string(),
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// System time shifted by the seconds written in a file, re-read on every call. It is how
/// end-to-end tests cross key deletion windows, rotation periods and material expiry
/// without waiting; `sealgate serve` uses it only when SEALGATE_CLOCK_OFFSET_FILE is set.
pub struct OffsetFileClock {
    path: std::path::PathBuf,
}

impl Clock for OffsetFileClock {
    fn now(&self) -> OffsetDateTime {
        let offset = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        OffsetDateTime::now_utc() + time::Duration::seconds_f64(offset)
    }
}

/// The system clock, or the offset clock when SEALGATE_CLOCK_OFFSET_FILE names a file.
pub fn from_env() -> SharedClock {
    match std::env::var_os("SEALGATE_CLOCK_OFFSET_FILE") {
        Some(path) => {
            tracing::warn!("time is shifted by the offset in {path:?} (a testing aid)");
            Arc::new(OffsetFileClock { path: path.into() })
        }
        None => system(),
    }
}

/// A clock that moves only when told to: for tests of time-driven behaviour.
pub struct ManualClock {
    now: std::sync::Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: std::sync::Mutex::new(OffsetDateTime::now_utc()),
        })
    }

    pub fn advance(&self, by: time::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
