//! Per-operation counters and latency histograms: one set per worker, merged into a report
//! once the run is over so the hot loop never contends on shared state.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum OpKind {
    Put,
    Get,
    Head,
    /// One page of a listing (ListObjectsV2 or ListObjectVersions).
    List,
    /// A KMS request (GenerateDataKey or Decrypt).
    Kms,
}

impl OpKind {
    const ALL: [OpKind; 5] = [
        OpKind::Put,
        OpKind::Get,
        OpKind::Head,
        OpKind::List,
        OpKind::Kms,
    ];

    fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Head => "head",
            OpKind::List => "list",
            OpKind::Kms => "kms",
        }
    }
}

/// What one operation that failed is filed under: its HTTP status ("501") or, when no
/// response came back, a word ("connection", "timeout", "length-mismatch").
#[derive(Debug)]
pub(super) struct Failure {
    pub kind: String,
    /// The S3 error code and message, or the transport error, shown once per kind.
    pub detail: String,
}

#[derive(Clone)]
pub(super) struct OpStats {
    ops: u64,
    bytes: u64,
    errors: BTreeMap<String, u64>,
    error_samples: BTreeMap<String, String>,
    /// Microseconds, successful operations only: a fast 501 would otherwise flatter the
    /// latency of a server that refuses the work.
    latency_us: Histogram<u64>,
}

impl OpStats {
    pub(super) fn new() -> Result<OpStats, String> {
        // Auto-resizing: memory follows the longest latency seen, not a preset bound, which
        // matters with thousands of workers.
        let latency_us = Histogram::new(3).map_err(|e| format!("latency histogram: {e}"))?;
        Ok(OpStats {
            ops: 0,
            bytes: 0,
            errors: BTreeMap::new(),
            error_samples: BTreeMap::new(),
            latency_us,
        })
    }

    pub(super) fn record_ok(&mut self, latency: Duration, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // Auto-resizing grows the histogram to fit; only a value beyond u64 range is clamped.
        if self.latency_us.record(us).is_err() {
            self.latency_us.saturating_record(us);
        }
    }

    pub(super) fn record_err(&mut self, failure: Failure) {
        *self.errors.entry(failure.kind.clone()).or_default() += 1;
        self.error_samples
            .entry(failure.kind)
            .or_insert(failure.detail);
    }

    pub(super) fn merge(&mut self, other: &OpStats) -> Result<(), String> {
        self.ops += other.ops;
        self.bytes += other.bytes;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        for (kind, detail) in &other.error_samples {
            self.error_samples
                .entry(kind.clone())
                .or_insert_with(|| detail.clone());
        }
        self.latency_us
            .add(&other.latency_us)
            .map_err(|e| format!("merging latency histograms: {e}"))
    }

    pub(super) fn errors(&self) -> u64 {
        self.errors.values().sum()
    }

    pub(super) fn summary(&self, elapsed: Duration) -> OpSummary {
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency_ms = if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p99: ms(h.value_at_quantile(0.99)),
                p999: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            }
        };
        OpSummary {
            ops: self.ops,
            errors: self.errors(),
            errors_by_status: self.errors.clone(),
            error_samples: self.error_samples.clone(),
            bytes: self.bytes,
            mib_per_s: self.bytes as f64 / MIB / secs,
            ops_per_s: self.ops as f64 / secs,
            latency_ms,
        }
    }
}

/// A worker's tally, one `OpStats` per kind of operation (indexed as `OpKind::ALL`).
#[derive(Clone)]
pub(super) struct Tally {
    by_kind: Vec<OpStats>,
}

impl Tally {
    pub(super) fn new() -> Result<Tally, String> {
        Ok(Tally {
            by_kind: OpKind::ALL
                .iter()
                .map(|_| OpStats::new())
                .collect::<Result<_, _>>()?,
        })
    }

    pub(super) fn of(&mut self, kind: OpKind) -> &mut OpStats {
        &mut self.by_kind[kind as usize]
    }

    fn get(&self, kind: OpKind) -> &OpStats {
        &self.by_kind[kind as usize]
    }

    pub(super) fn merge(&mut self, other: &Tally) -> Result<(), String> {
        for kind in OpKind::ALL {
            self.of(kind).merge(other.get(kind))?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub(super) struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct OpSummary {
    /// Operations that succeeded (and, for GET, returned the whole body).
    pub ops: u64,
    pub errors: u64,
    pub errors_by_status: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, String>,
    pub bytes: u64,
    pub mib_per_s: f64,
    pub ops_per_s: f64,
    pub latency_ms: Latency,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub endpoint: String,
    pub bucket: String,
    pub op: String,
    pub object_size: u64,
    pub objects: u64,
    pub concurrency: usize,
    pub sse: String,
    pub elapsed_s: f64,
    pub total: OpSummary,
    pub by_op: BTreeMap<OpKind, OpSummary>,
    /// The server's CPU time over the run, when its process was named (`--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<ServerCpu>,
}

/// What the run cost the server in CPU time, every thread: the figures that say how many
/// cores a load needs, whatever the machine. User time is the server's own work; system
/// time is the kernel's on its behalf (network, files, and the disk writes an fsync makes).
#[derive(Debug, Serialize)]
pub(super) struct ServerCpu {
    pub pid: u32,
    pub user_s: f64,
    pub system_s: f64,
    /// User and system time per operation.
    pub us_per_op: f64,
    pub user_us_per_op: f64,
    /// Per GiB of object bytes moved, when the run moved any.
    pub s_per_gib: Option<f64>,
    pub user_s_per_gib: Option<f64>,
}

impl ServerCpu {
    pub(super) fn new(pid: u32, user_s: f64, system_s: f64, total: &OpSummary) -> ServerCpu {
        let per_op = |s: f64| s * 1e6 / total.ops.max(1) as f64;
        let gib = total.bytes as f64 / (1u64 << 30) as f64;
        let per_gib = |s: f64| (total.bytes > 0).then(|| s / gib);
        ServerCpu {
            pid,
            user_s,
            system_s,
            us_per_op: per_op(user_s + system_s),
            user_us_per_op: per_op(user_s),
            s_per_gib: per_gib(user_s + system_s),
            user_s_per_gib: per_gib(user_s),
        }
    }
}

/// Builds the report from the merged tally of every worker.
pub(super) fn build(
    header: ReportHeader,
    tally: &Tally,
    elapsed: Duration,
) -> Result<Report, String> {
    let mut total = OpStats::new()?;
    for kind in OpKind::ALL {
        total.merge(tally.get(kind))?;
    }
    let mut by_op = BTreeMap::new();
    for kind in OpKind::ALL {
        let stats = tally.get(kind);
        if stats.ops > 0 || stats.errors() > 0 {
            by_op.insert(kind, stats.summary(elapsed));
        }
    }
    Ok(Report {
        endpoint: header.endpoint,
        bucket: header.bucket,
        op: header.op,
        object_size: header.object_size,
        objects: header.objects,
        concurrency: header.concurrency,
        sse: header.sse,
        elapsed_s: elapsed.as_secs_f64(),
        total: total.summary(elapsed),
        by_op,
        server_cpu: None,
    })
}

/// What the run was, repeated in the report so a JSON file stands on its own.
pub(super) struct ReportHeader {
    pub endpoint: String,
    pub bucket: String,
    pub op: String,
    pub object_size: u64,
    pub objects: u64,
    pub concurrency: usize,
    pub sse: String,
}

pub(super) fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, scale) in UNITS {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    for (unit, scale) in UNITS {
        if bytes >= scale {
            return format!("{:.2}{unit}", bytes as f64 / scale as f64);
        }
    }
    format!("{bytes}B")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bucket.is_empty() {
            // A KMS run: no objects, no bucket.
            writeln!(
                f,
                "sealgate bench: {}, concurrency {}, {:.2} s at {}",
                self.op, self.concurrency, self.elapsed_s, self.endpoint,
            )?;
        } else {
            writeln!(
                f,
                "sealgate bench: {} {} objects, concurrency {}, sse {}, {:.2} s, {} at {} (bucket {})",
                self.op,
                format_size(self.object_size),
                self.concurrency,
                self.sse,
                self.elapsed_s,
                self.objects,
                self.endpoint,
                self.bucket,
            )?;
        }
        writeln!(
            f,
            "{:<6}{:>10}{:>8}{:>11}{:>11}{:>10}{:>10}{:>10}{:>10}",
            "op", "ops", "errors", "MiB/s", "ops/s", "p50 ms", "p99 ms", "p999 ms", "max ms"
        )?;
        let mut row = |name: &str, s: &OpSummary| {
            writeln!(
                f,
                "{:<6}{:>10}{:>8}{:>11.1}{:>11.1}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                name,
                s.ops,
                s.errors,
                s.mib_per_s,
                s.ops_per_s,
                s.latency_ms.p50,
                s.latency_ms.p99,
                s.latency_ms.p999,
                s.latency_ms.max,
            )
        };
        for (kind, s) in &self.by_op {
            row(kind.name(), s)?;
        }
        if self.by_op.len() > 1 {
            row("total", &self.total)?;
        }
        if let Some(cpu) = &self.server_cpu {
            write!(
                f,
                "server cpu (pid {}): {:.2} s user + {:.2} s system, {:.0} µs per op ({:.0} user)",
                cpu.pid, cpu.user_s, cpu.system_s, cpu.us_per_op, cpu.user_us_per_op
            )?;
            match (cpu.s_per_gib, cpu.user_s_per_gib) {
                (Some(all), Some(user)) => {
                    writeln!(f, ", {all:.2} s per GiB ({user:.2} user)")?;
                }
                _ => writeln!(f)?,
            }
        }
        for (kind, s) in &self.by_op {
            for (status, n) in &s.errors_by_status {
                let detail = s.error_samples.get(status).map_or("", String::as_str);
                writeln!(f, "errors: {} {status} × {n}: {detail}", kind.name())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ReportHeader {
        ReportHeader {
            endpoint: "http://127.0.0.1:1".into(),
            bucket: "b".into(),
            op: "mixed".into(),
            object_size: 4096,
            objects: 8,
            concurrency: 2,
            sse: "none".into(),
        }
    }

    fn near(got: f64, want: f64) -> bool {
        // hdrhistogram with 3 significant figures: within 0.1 % of the true value.
        (got - want).abs() <= want * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut s = OpStats::new().unwrap();
        for ms in 1..=1000u64 {
            s.record_ok(Duration::from_millis(ms), 10);
        }
        let sum = s.summary(Duration::from_secs(2));
        assert_eq!(sum.ops, 1000);
        assert_eq!(sum.bytes, 10_000);
        assert!(near(sum.latency_ms.p50, 500.0), "{:?}", sum.latency_ms);
        assert!(near(sum.latency_ms.p99, 990.0), "{:?}", sum.latency_ms);
        assert!(near(sum.latency_ms.p999, 999.0), "{:?}", sum.latency_ms);
        assert!(near(sum.latency_ms.max, 1000.0), "{:?}", sum.latency_ms);
        assert!(near(sum.latency_ms.mean, 500.5), "{:?}", sum.latency_ms);
        assert!(near(sum.ops_per_s, 500.0));
    }

    #[test]
    fn a_rare_slow_request_shows_in_p999_not_p99() {
        let mut s = OpStats::new().unwrap();
        for _ in 0..9990 {
            s.record_ok(Duration::from_millis(2), 0);
        }
        for _ in 0..10 {
            s.record_ok(Duration::from_secs(3), 0);
        }
        let l = s.summary(Duration::from_secs(1)).latency_ms;
        assert!(near(l.p99, 2.0), "{l:?}");
        assert!(near(l.p999, 2.0), "{l:?}");
        assert!(near(l.max, 3000.0), "{l:?}");
        s.record_ok(Duration::from_secs(3), 0);
        let l = s.summary(Duration::from_secs(1)).latency_ms;
        assert!(near(l.p999, 3000.0), "{l:?}");
    }

    #[test]
    fn merged_workers_and_errors_by_status() {
        let mut a = Tally::new().unwrap();
        let mut b = Tally::new().unwrap();
        a.of(OpKind::Put)
            .record_ok(Duration::from_millis(1), 1 << 20);
        b.of(OpKind::Put)
            .record_ok(Duration::from_millis(3), 1 << 20);
        b.of(OpKind::Get)
            .record_ok(Duration::from_millis(2), 1 << 20);
        for _ in 0..3 {
            a.of(OpKind::Put).record_err(Failure {
                kind: "501".into(),
                detail: "NotImplemented: first".into(),
            });
        }
        b.of(OpKind::Put).record_err(Failure {
            kind: "501".into(),
            detail: "NotImplemented: second".into(),
        });
        a.merge(&b).unwrap();
        let r = build(header(), &a, Duration::from_secs(1)).unwrap();
        assert_eq!(r.total.ops, 3);
        assert_eq!(r.total.errors, 4);
        assert!(near(r.total.mib_per_s, 3.0));
        let put = &r.by_op[&OpKind::Put];
        assert_eq!(put.ops, 2);
        assert_eq!(put.errors_by_status["501"], 4);
        assert_eq!(put.error_samples["501"], "NotImplemented: first");
        assert!(near(put.latency_ms.max, 3.0));
        assert_eq!(r.by_op[&OpKind::Get].errors, 0);

        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["by_op"]["put"]["errors_by_status"]["501"], 4);
        assert_eq!(json["total"]["ops"], 3);
        let text = r.to_string();
        assert!(text.contains("total"), "{text}");
        assert!(
            text.contains("put 501 × 4: NotImplemented: first"),
            "{text}"
        );
    }

    #[test]
    fn an_op_that_never_ran_is_left_out() {
        let mut t = Tally::new().unwrap();
        t.of(OpKind::Get).record_ok(Duration::from_millis(1), 1);
        let r = build(header(), &t, Duration::from_secs(1)).unwrap();
        assert_eq!(r.by_op.keys().copied().collect::<Vec<_>>(), [OpKind::Get]);
        let empty = Tally::new().unwrap();
        let r = build(header(), &empty, Duration::from_secs(1)).unwrap();
        assert_eq!(r.total.latency_ms, Latency::default());
    }

    #[test]
    fn sizes_read_back_as_written() {
        assert_eq!(format_size(4096), "4KiB");
        assert_eq!(format_size(1 << 20), "1MiB");
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1500), "1.46KiB");
        assert_eq!(format_size(10), "10B");
    }
}
