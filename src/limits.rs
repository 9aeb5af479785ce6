//! What one client may take of a listener (`[limits]`): how long it may take over a request
//! head, over a body's next bytes or over nothing at all, and how many connections it, and
//! all clients together, may hold. A client past a limit is cut so that the others keep
//! being served. Both listeners (S3/KMS/IAM, admin) go through here:
//!
//! - [`Gate`] accepts connections and refuses at once those beyond a connection limit;
//! - [`Watch`] times one connection's heads and idle spells, whatever it speaks (HTTP/1.1
//!   or HTTP/2, plain or TLS), by racing the whole connection against its deadlines;
//! - [`GapTimed`] fails a request body whose next bytes do not come in time, so that the
//!   handler stops with an error (S3's `RequestTimeout`) and stores nothing.
//!
//! hyper's own header timer is left off: it starts when an answer ends, so it would close
//! every kept-alive connection after the header timeout instead of the idle timeout, and it
//! covers neither the TLS handshake nor HTTP/2.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::config::Limits;
use crate::metrics::{RefusalLabels, TimeoutLabels, metrics};

/// A request body as the listeners hand it to the handlers.
pub type TimedIncoming = GapTimed<hyper::body::Incoming>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The HTTP/1.1 + HTTP/2 connection builder both listeners serve with.
pub fn http_builder(limits: &Limits) -> ConnBuilder<TokioExecutor> {
    let mut http = ConnBuilder::new(TokioExecutor::new());
    http.http1().header_read_timeout(None);
    // A live HTTP/2 peer answers a PING at once, even while a request is in flight; one
    // that does not within the header timeout is gone.
    let ping = Duration::from_secs(limits.header_read_timeout_secs);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(ping)
        .keep_alive_timeout(ping);
    http
}

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MaxConnections,
    MaxConnectionsPerIp,
}

impl Refusal {
    /// Its `[limits]` field: the metric's label and what the log names.
    pub fn field(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }
}

/// Connections are counted by source: an IPv4 address, or an IPv6 /64, which one host
/// usually holds whole.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[derive(Default)]
struct Tally {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// A warning said at most once a minute, with how many were held back meanwhile: a flood
/// must not turn into a flood of log lines.
#[derive(Default)]
struct Throttle {
    last: Mutex<Option<Instant>>,
    held: AtomicU64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(60);

    /// `Some(held back since the last one)` when a warning may be said now.
    fn due(&self) -> Option<u64> {
        let mut last = lock(&self.last);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Self::EVERY) {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

/// The door of one listener: admits connections while the limits allow.
pub struct Gate {
    listener: &'static str,
    limits: Limits,
    open: Mutex<Tally>,
    refusals: Throttle,
    accept_failures: Throttle,
}

/// An admitted connection's place; dropping it frees the place.
pub struct Admitted {
    gate: Arc<Gate>,
    source: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.gate.open);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

impl Gate {
    /// `listener` names it in metrics and logs (`api`, `admin`).
    pub fn new(listener: &'static str, limits: &Limits) -> Arc<Gate> {
        Arc::new(Gate {
            listener,
            limits: limits.clone(),
            open: Mutex::default(),
            refusals: Throttle::default(),
            accept_failures: Throttle::default(),
        })
    }

    /// The clock of a connection opened now.
    pub fn watch(&self) -> Arc<Watch> {
        Watch::new(self.listener, &self.limits)
    }

    /// Takes a place for a connection from `ip`, or says which limit is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let source = source_of(ip);
        let mut open = lock(&self.open);
        let max = |n: usize| if n == 0 { usize::MAX } else { n };
        if open.total >= max(self.limits.max_connections) {
            return Err(Refusal::MaxConnections);
        }
        let from_source = open.by_source.entry(source).or_default();
        if *from_source >= max(self.limits.max_connections_per_ip) {
            return Err(Refusal::MaxConnectionsPerIp);
        }
        *from_source += 1;
        open.total += 1;
        Ok(Admitted {
            gate: self.clone(),
            source,
        })
    }

    /// The next connection within the limits. One beyond them is closed at once rather
    /// than left in the accept backlog, where it would hang until the client's own timeout
    /// and hide the overload from load balancers; the client sees it fail and retries.
    /// A failure to accept (out of file descriptors, above all) pauses the loop briefly
    /// instead of spinning it.
    pub async fn accept(
        self: &Arc<Self>,
        listener: &TcpListener,
    ) -> (TcpStream, SocketAddr, Admitted) {
        loop {
            let (socket, addr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if let Some(held) = self.accept_failures.due() {
                        tracing::warn!(listener = self.listener, error = %e, held_back = held, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.admit(addr.ip()) {
                Ok(admitted) => return (socket, addr, admitted),
                Err(refusal) => self.refused(refusal, addr.ip()),
            }
        }
    }

    fn refused(&self, refusal: Refusal, ip: IpAddr) {
        metrics()
            .connections_refused
            .get_or_create(&RefusalLabels {
                listener: self.listener,
                limit: refusal.field(),
            })
            .inc();
        tracing::debug!(listener = self.listener, source_ip = %ip, limit = refusal.field(), "connection refused");
        if let Some(held) = self.refusals.due() {
            tracing::warn!(
                listener = self.listener,
                source_ip = %ip,
                limit = refusal.field(),
                max_connections = self.limits.max_connections,
                max_connections_per_ip = self.limits.max_connections_per_ip,
                refused_before = held,
                "refusing connections: a connection limit is reached (sealgate_connections_refused_total counts them)"
            );
        }
    }
}

/// Which timeout cut a connection or failed a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    HeaderRead,
    BodyRead,
    Idle,
}

impl Timeout {
    fn label(self) -> &'static str {
        match self {
            Timeout::HeaderRead => "header_read",
            Timeout::BodyRead => "body_read",
            Timeout::Idle => "idle",
        }
    }

    fn count(self, listener: &'static str) {
        metrics()
            .client_timeouts
            .get_or_create(&TimeoutLabels {
                listener,
                timeout: self.label(),
            })
            .inc();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request head is awaited since then: from the connection's opening for the first,
    /// from its first byte for a later one.
    Head(Instant),
    /// A request is in progress (its body has a timer of its own).
    Busy,
    /// No request has been in progress since then.
    Idle(Instant),
}

struct State {
    phase: Phase,
    in_flight: usize,
    /// HTTP/2: bytes on an idle connection (PINGs, window updates) need not start a
    /// request, so only the idle timeout applies between requests.
    multiplexed: bool,
}

/// One connection's clock: what it is waiting for, and since when.
pub struct Watch {
    listener: &'static str,
    header: Duration,
    body: Duration,
    idle: Duration,
    state: Mutex<State>,
    changed: Notify,
}

impl Watch {
    /// A connection opened now: its first head (and TLS handshake) is awaited.
    fn new(listener: &'static str, limits: &Limits) -> Arc<Watch> {
        Arc::new(Watch {
            listener,
            header: Duration::from_secs(limits.header_read_timeout_secs),
            body: Duration::from_secs(limits.body_read_timeout_secs),
            idle: Duration::from_secs(limits.idle_timeout_secs),
            state: Mutex::new(State {
                phase: Phase::Head(Instant::now()),
                in_flight: 0,
                multiplexed: false,
            }),
            changed: Notify::new(),
        })
    }

    /// The connection's I/O, which tells the watch when bytes arrive.
    pub fn io<T>(self: &Arc<Self>, io: T) -> WatchedIo<T> {
        WatchedIo {
            io,
            watch: self.clone(),
        }
    }

    /// Marks `req` in progress until the returned value is dropped (with the answer's
    /// body, once it has gone out), and times the gaps in its body.
    pub fn request<B>(
        self: &Arc<Self>,
        req: http::Request<B>,
    ) -> (http::Request<GapTimed<B>>, InFlight) {
        {
            let mut state = lock(&self.state);
            state.in_flight += 1;
            state.phase = Phase::Busy;
            state.multiplexed |= req.version() == http::Version::HTTP_2;
        }
        let (gap, listener) = (self.body, self.listener);
        let req = req.map(|inner| GapTimed::new(inner, gap, listener));
        (req, InFlight(self.clone()))
    }

    fn bytes_arrived(&self) {
        let mut state = lock(&self.state);
        if matches!(state.phase, Phase::Idle(_)) && !state.multiplexed {
            state.phase = Phase::Head(Instant::now());
            self.changed.notify_one();
        }
    }

    fn request_ended(&self) {
        let mut state = lock(&self.state);
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.phase = Phase::Idle(Instant::now());
            self.changed.notify_one();
        }
    }

    fn due(&self) -> Option<(Instant, Timeout)> {
        match lock(&self.state).phase {
            Phase::Head(since) => Some((since + self.header, Timeout::HeaderRead)),
            Phase::Busy => None,
            Phase::Idle(since) => Some((since + self.idle, Timeout::Idle)),
        }
    }

    /// Completes when the connection has outlasted the timeout of what it is waiting for.
    pub async fn expired(&self) -> Timeout {
        loop {
            match self.due() {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = self.changed.notified() => {}
                },
                None => self.changed.notified().await,
            }
        }
    }

    /// Runs `conn` (TLS handshake and HTTP) until it ends or a timeout cuts it; a cut
    /// connection is dropped, which closes it.
    pub async fn drive(&self, peer: IpAddr, conn: impl Future) {
        tokio::select! {
            _ = conn => {}
            timeout = self.expired() => {
                timeout.count(self.listener);
                tracing::debug!(listener = self.listener, source_ip = %peer, timeout = timeout.label(), "connection closed: timed out");
            }
        }
    }
}

/// A request in progress on a watched connection.
pub struct InFlight(Arc<Watch>);

impl InFlight {
    /// The answer, whose body keeps the request in progress until it is dropped.
    pub fn answer<B>(self, resp: http::Response<B>) -> http::Response<Answer<B>> {
        resp.map(|inner| Answer {
            inner,
            _in_flight: self,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// An answer's body that holds its request in progress.
pub struct Answer<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: HttpBody + Unpin> HttpBody for Answer<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's I/O that tells its [`Watch`] when bytes arrive.
pub struct WatchedIo<T> {
    io: T,
    watch: Arc<Watch>,
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body's next bytes did not come within `body_read_timeout_secs`.
#[derive(Debug, thiserror::Error)]
#[error("{MARKER}: no bytes for {}s", .0.as_secs())]
pub struct BodyStalled(Duration);

/// How a stalled body's error reads, also where a layer in between (aws-chunked decoding)
/// keeps only the message of the error it wraps.
const MARKER: &str = "request body stalled";

impl BodyStalled {
    /// Whether `e` comes from a stalled body.
    pub fn is_cause_of(e: &(dyn std::error::Error + 'static)) -> bool {
        std::iter::successors(Some(e), |e| e.source())
            .any(|e| e.is::<BodyStalled>() || e.to_string().contains(MARKER))
    }
}

/// A request body that fails when its next bytes take longer than the gap allowed. The
/// gap is timed only while the handler waits for bytes, so a handler that reads slowly
/// (its backend is slow) never makes the client look slow.
pub struct GapTimed<B> {
    inner: B,
    gap: Duration,
    listener: &'static str,
    timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    stalled: bool,
}

impl<B> GapTimed<B> {
    fn new(inner: B, gap: Duration, listener: &'static str) -> GapTimed<B> {
        GapTimed {
            inner,
            gap,
            listener,
            timer: None,
            waiting: false,
            stalled: false,
        }
    }
}

impl<B> HttpBody for GapTimed<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = &mut *self;
        if this.stalled {
            return Poll::Ready(Some(Err(BodyStalled(this.gap).into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if !this.waiting {
            this.waiting = true;
            let deadline = Instant::now() + this.gap;
            match &mut this.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let fired = this
            .timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        if !fired {
            return Poll::Pending;
        }
        this.stalled = true;
        Timeout::BodyRead.count(this.listener);
        tracing::debug!(
            listener = this.listener,
            gap_secs = this.gap.as_secs(),
            "request body stalled"
        );
        Poll::Ready(Some(Err(BodyStalled(this.gap).into())))
    }

    fn is_end_stream(&self) -> bool {
        !self.stalled && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::channel::mpsc::{UnboundedSender, unbounded};
    use http_body_util::{BodyExt as _, StreamBody};

    type Piece = Result<Frame<Bytes>, std::convert::Infallible>;
    type Channel = StreamBody<futures::channel::mpsc::UnboundedReceiver<Piece>>;

    fn send(tx: &UnboundedSender<Piece>, data: &'static [u8]) {
        tx.unbounded_send(Ok(Frame::data(Bytes::from_static(data))))
            .unwrap();
    }

    fn limits(total: usize, per_ip: usize) -> Limits {
        Limits {
            header_read_timeout_secs: 2,
            body_read_timeout_secs: 3,
            idle_timeout_secs: 10,
            max_connections: total,
            max_connections_per_ip: per_ip,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_gets_its_share_and_everyone_the_total() {
        let gate = Gate::new("test", &limits(3, 2));
        let a1 = gate.admit(ip("10.0.0.1")).unwrap();
        let _a2 = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            gate.admit(ip("10.0.0.1")).err(),
            Some(Refusal::MaxConnectionsPerIp)
        );
        let _b = gate.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(
            gate.admit(ip("10.0.0.3")).err(),
            Some(Refusal::MaxConnections)
        );
        drop(a1);
        gate.admit(ip("10.0.0.1")).unwrap();
    }

    #[test]
    fn ipv6_sources_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let gate = Gate::new("test", &limits(0, 1));
        let _a = gate.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(gate.admit(ip("2001:db8:1:2:ffff::9")).is_err());
        gate.admit(ip("2001:db8:1:3::1")).unwrap();
        let _v4 = gate.admit(ip("192.0.2.7")).unwrap();
        assert!(gate.admit(ip("::ffff:192.0.2.7")).is_err());
    }

    #[test]
    fn zero_is_no_limit() {
        let gate = Gate::new("test", &limits(0, 0));
        let held: Vec<_> = (0..1000)
            .map(|_| gate.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(lock(&gate.open).total, held.len());
        drop(held);
        assert!(lock(&gate.open).by_source.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn warnings_are_said_once_a_minute_with_the_count_held_back() {
        let t = Throttle::default();
        assert_eq!(t.due(), Some(0));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(t.due(), Some(2));
    }

    fn watch() -> Arc<Watch> {
        Gate::new("test", &limits(0, 0)).watch()
    }

    /// That the watch cuts its connection `secs` from now, for `why`.
    async fn cut_after(watch: Arc<Watch>, secs: u64, why: Timeout) {
        let start = Instant::now();
        assert_eq!(watch.expired().await, why);
        assert_eq!(start.elapsed(), Duration::from_secs(secs));
    }

    fn http2() -> http::Request<()> {
        let mut req = http::Request::new(());
        *req.version_mut() = http::Version::HTTP_2;
        req
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_gets_the_header_timeout_for_its_first_head() {
        cut_after(watch(), 2, Timeout::HeaderRead).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_is_never_cut_and_idleness_follows_it() {
        let watch = watch();
        let (_req, in_flight) = watch.request(http2());
        let cut = tokio::time::timeout(Duration::from_secs(3600), watch.expired()).await;
        assert!(cut.is_err(), "cut while busy");
        drop(in_flight);
        cut_after(watch, 10, Timeout::Idle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn http1_bytes_on_an_idle_connection_start_a_head_that_must_finish_in_time() {
        let watch = watch();
        drop(watch.request(http::Request::new(())));
        // Idle for 5 s, then the head's 2 s: well before the idle timeout's 10 s.
        let expiry = tokio::spawn(cut_after(watch.clone(), 7, Timeout::HeaderRead));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut io = watch.io(&b"GET"[..]);
        tokio::io::AsyncReadExt::read(&mut io, &mut [0u8; 8])
            .await
            .unwrap();
        expiry.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn http2_bytes_between_requests_leave_the_idle_timeout() {
        let watch = watch();
        drop(watch.request(http2()));
        tokio::time::sleep(Duration::from_secs(5)).await;
        watch.bytes_arrived();
        cut_after(watch, 5, Timeout::Idle).await;
    }

    fn timed_body() -> (UnboundedSender<Piece>, GapTimed<Channel>) {
        let (tx, rx) = unbounded();
        (
            tx,
            GapTimed::new(StreamBody::new(rx), Duration::from_secs(3), "test"),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_fails_when_its_next_bytes_are_late() {
        let (tx, mut body) = timed_body();
        send(&tx, b"a");
        let start = Instant::now();
        assert!(body.frame().await.unwrap().is_ok());
        let e = body.frame().await.unwrap().unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert!(BodyStalled::is_cause_of(&*e), "{e}");
        assert!(
            body.frame().await.unwrap().is_err(),
            "a stalled body stays failed"
        );
        assert!(!body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_coming_is_never_cut_however_long_it_takes() {
        let (tx, body) = timed_body();
        tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(2900)).await;
                send(&tx, b"x");
            }
        });
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_handler_spends_elsewhere_is_not_the_clients() {
        let (tx, mut body) = timed_body();
        send(&tx, b"a");
        send(&tx, b"b");
        assert!(body.frame().await.unwrap().is_ok());
        // The handler is busy for longer than the gap (a slow backend) before reading on.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(body.frame().await.unwrap().is_ok());
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(tx);
        assert!(body.frame().await.is_none());
    }

    #[test]
    fn a_stalled_body_is_recognised_through_a_layer_that_keeps_only_its_message() {
        #[derive(Debug, thiserror::Error)]
        #[error("AwsChunkedStreamError: Underlying: {0}")]
        struct Wrapper(String);
        let e = Wrapper(BodyStalled(Duration::from_secs(60)).to_string());
        assert!(BodyStalled::is_cause_of(&e));
        assert!(!BodyStalled::is_cause_of(&Wrapper(
            "connection reset".into()
        )));
    }
}
