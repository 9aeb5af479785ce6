//! Request quotas per account, as AWS KMS applies them: token buckets, one for
//! cryptographic operations and one for everything else; an empty bucket answers
//! ThrottlingException, which SDKs retry with backoff.
//!
//! In a fleet the configured rates are the fleet's: each node admits its share, the rate
//! divided by the live nodes (as the last heartbeat counted them), so nodes behind a load
//! balancer that spreads requests evenly together admit about the configured rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::errors::KmsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Cryptographic,
    Management,
}

impl Class {
    pub fn of(operation: &str) -> Class {
        match operation {
            "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateDataKeyPair"
            | "GenerateDataKeyPairWithoutPlaintext"
            | "GenerateRandom"
            | "Sign"
            | "Verify"
            | "GenerateMac"
            | "VerifyMac" => Class::Cryptographic,
            _ => Class::Management,
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// How many nodes share the configured rates (at least 1), e.g.
/// `Arc::new(move || membership.live_nodes())`.
pub type LiveNodes = Arc<dyn Fn() -> usize + Send + Sync>;

pub struct Quotas {
    crypto_per_sec: f64,
    management_per_sec: f64,
    live_nodes: Option<LiveNodes>,
    buckets: Mutex<HashMap<(String, Class), Bucket>>,
}

impl Quotas {
    /// A rate of 0 turns that quota off. The rates are this gateway's alone until
    /// [`Quotas::shared_by`] says otherwise.
    pub fn new(crypto_per_sec: u32, management_per_sec: u32) -> Quotas {
        Quotas {
            crypto_per_sec: f64::from(crypto_per_sec),
            management_per_sec: f64::from(management_per_sec),
            live_nodes: None,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Makes the rates the fleet's: this node admits `rate / live_nodes()`, following the
    /// count as it changes.
    pub fn shared_by(mut self, live_nodes: LiveNodes) -> Quotas {
        self.live_nodes = Some(live_nodes);
        self
    }

    /// This node's share of a configured rate.
    fn per_node(&self, rate: f64) -> f64 {
        match &self.live_nodes {
            None => rate,
            Some(live) => rate / live().max(1) as f64,
        }
    }

    /// Takes one token for `account`, or says the caller is throttled. Buckets hold one
    /// second's worth (at least one token, so a share below one a second still admits a
    /// request now and then), so short bursts up to the rate pass. A bucket fuller than a
    /// new, smaller share is cut down to it on its next use.
    pub fn take(&self, account: &str, class: Class, now: Instant) -> Result<(), KmsError> {
        let rate = match class {
            Class::Cryptographic => self.crypto_per_sec,
            Class::Management => self.management_per_sec,
        };
        if rate <= 0.0 {
            return Ok(());
        }
        let rate = self.per_node(rate);
        let capacity = rate.max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets
            .entry((account.to_owned(), class))
            .or_insert(Bucket {
                tokens: capacity,
                last: now,
            });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.last = now;
        if b.tokens < 1.0 {
            return Err(KmsError::throttling(
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
            ));
        }
        b.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_beyond_the_rate_is_throttled_then_refills() {
        let q = Quotas::new(10, 0);
        let t0 = Instant::now();
        for _ in 0..10 {
            q.take("a", Class::Cryptographic, t0).unwrap();
        }
        let err = q.take("a", Class::Cryptographic, t0).unwrap_err();
        assert_eq!(err.code(), "ThrottlingException");
        // Another account and the unlimited class are unaffected.
        q.take("b", Class::Cryptographic, t0).unwrap();
        for _ in 0..1000 {
            q.take("a", Class::Management, t0).unwrap();
        }
        q.take("a", Class::Cryptographic, t0 + Duration::from_millis(150))
            .unwrap();
    }

    /// Tokens taken for account "a" before the first throttle, all at `at`.
    fn burst(q: &Quotas, at: Instant) -> usize {
        (0..100_000)
            .take_while(|_| q.take("a", Class::Cryptographic, at).is_ok())
            .count()
    }

    #[test]
    fn each_node_admits_the_rate_divided_by_the_live_nodes() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let live = Arc::new(AtomicUsize::new(4));
        let count = Arc::clone(&live);
        let q = Quotas::new(100, 0).shared_by(Arc::new(move || count.load(Ordering::Relaxed)));
        let t0 = Instant::now();
        assert_eq!(
            burst(&q, t0),
            25,
            "a burst of a quarter of the fleet's rate"
        );
        // A second refills a quarter of the rate, no more.
        assert_eq!(burst(&q, t0 + Duration::from_secs(1)), 25);

        // Two nodes left: the share doubles as soon as the count says so.
        live.store(2, Ordering::Relaxed);
        assert_eq!(burst(&q, t0 + Duration::from_secs(2)), 50);

        // Ten joined: a bucket filled under the larger share is cut down to the new one.
        live.store(10, Ordering::Relaxed);
        assert_eq!(burst(&q, t0 + Duration::from_secs(60)), 10);

        // Alone again (a count of 0 is read as this node alone): the whole rate.
        live.store(0, Ordering::Relaxed);
        assert_eq!(burst(&q, t0 + Duration::from_secs(120)), 100);
    }

    #[test]
    fn a_share_below_one_a_second_still_admits_requests_at_that_pace() {
        let q = Quotas::new(1, 0).shared_by(Arc::new(|| 4));
        let t0 = Instant::now();
        assert_eq!(burst(&q, t0), 1);
        assert_eq!(
            burst(&q, t0 + Duration::from_secs(3)),
            0,
            "a quarter a second"
        );
        assert_eq!(burst(&q, t0 + Duration::from_secs(4)), 1);
    }

    #[tokio::test]
    async fn nodes_that_heartbeat_together_split_the_rate() {
        use crate::fleet::Membership;
        let Some(db) = crate::postgres::testing::database().await else {
            return;
        };
        let gw1 = Membership::join(db.clone(), "gw1").await.unwrap();
        let gw2 = Membership::join(db.clone(), "gw2").await.unwrap();
        gw1.beat().await.unwrap();
        let live = Arc::clone(&gw1);
        let q = Quotas::new(1000, 0).shared_by(Arc::new(move || live.live_nodes()));
        let t0 = Instant::now();
        assert_eq!(burst(&q, t0), 500, "two live nodes: half the rate each");

        gw2.leave().await.unwrap();
        gw1.beat().await.unwrap();
        assert_eq!(
            burst(&q, t0 + Duration::from_secs(1)),
            1000,
            "alone after the next heartbeat: the whole rate"
        );
    }
}
