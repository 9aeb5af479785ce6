//! Progress of the long-running commands on a terminal: one line on stderr, redrawn a few
//! times a second, cleared at the end. Piped or redirected, nothing is drawn, so scripts
//! see only the commands' results.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// What the figures count.
#[derive(Clone, Copy)]
pub(crate) enum Unit {
    Bytes,
    Items,
}

/// A progress line fed by `done`, read on every redraw.
pub(crate) struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts showing `label` with `done()` out of `total` (when known). Must run inside
    /// the tokio runtime.
    pub(crate) fn start(
        label: String,
        total: Option<u64>,
        unit: Unit,
        done: impl Fn() -> u64 + Send + 'static,
    ) -> Progress {
        let template = match (unit, total) {
            (Unit::Bytes, Some(_)) => {
                "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}"
            }
            (Unit::Bytes, None) => "{spinner} {msg} {binary_bytes} {binary_bytes_per_sec}",
            (Unit::Items, Some(_)) => "{msg} {wide_bar} {human_pos}/{human_len} {per_sec} {eta}",
            (Unit::Items, None) => "{spinner} {msg} {human_pos} {per_sec}",
        };
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(label);
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                shown.set_position(done());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { bar, ticker }
    }

    /// A progress line showing a counter the work adds to.
    pub(crate) fn counting(
        label: String,
        total: Option<u64>,
        unit: Unit,
    ) -> (Progress, Arc<AtomicU64>) {
        let counter = Arc::new(AtomicU64::new(0));
        let shown = counter.clone();
        let progress = Progress::start(label, total, unit, move || shown.load(Ordering::Relaxed));
        (progress, counter)
    }

    pub(crate) fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Clears the line; what the command prints next stands alone.
    pub(crate) fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

/// A spinner for work with no figures to show (it turns on its own thread, so it also
/// runs outside the async runtime).
pub(crate) struct Spinner(ProgressBar);

impl Spinner {
    pub(crate) fn start(label: String) -> Spinner {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(label);
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(bar)
    }

    pub(crate) fn finish(self) {
        self.0.finish_and_clear();
    }
}
