//! Request quotas per account, as AWS KMS applies them: token buckets, one for
//! cryptographic operations and one for everything else; an empty bucket answers
//! ThrottlingException, which SDKs retry with backoff.

use std::collections::HashMap;
use std::sync::Mutex;
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

pub struct Quotas {
    crypto_per_sec: f64,
    management_per_sec: f64,
    buckets: Mutex<HashMap<(String, Class), Bucket>>,
}

impl Quotas {
    /// A rate of 0 turns that quota off.
    pub fn new(crypto_per_sec: u32, management_per_sec: u32) -> Quotas {
        Quotas {
            crypto_per_sec: f64::from(crypto_per_sec),
            management_per_sec: f64::from(management_per_sec),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `account`, or says the caller is throttled. Buckets hold one
    /// second's worth, so short bursts up to the rate pass.
    pub fn take(&self, account: &str, class: Class, now: Instant) -> Result<(), KmsError> {
        let rate = match class {
            Class::Cryptographic => self.crypto_per_sec,
            Class::Management => self.management_per_sec,
        };
        if rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets
            .entry((account.to_owned(), class))
            .or_insert(Bucket {
                tokens: rate,
                last: now,
            });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
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
}
