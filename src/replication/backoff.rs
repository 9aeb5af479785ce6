//! Retry delays: exponential in the attempt number, capped, with jitter so that tasks
//! queued together while a destination was down do not all retry at the same instant.

/// The delay before retry number `attempt` (0 for the first retry): `base · 2^attempt`,
/// at most `max`, then scaled into `[½, 1]` of that by `jitter` (uniform in `[0, 1)`).
pub fn delay_ms(attempt: u32, base_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exp = base_ms
        .max(1)
        .saturating_mul(1u64.checked_shl(attempt.min(62)).unwrap_or(u64::MAX))
        .min(max_ms.max(1));
    let jitter = jitter.clamp(0.0, 1.0);
    let half = exp / 2;
    half + ((exp - half) as f64 * jitter) as u64
}

/// A uniform value in `[0, 1)` from the operating system's random source.
pub fn random_jitter() -> f64 {
    let mut b = [0u8; 8];
    crate::crypto::fill_random(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_stop_at_the_cap() {
        assert_eq!(delay_ms(0, 1000, 300_000, 1.0), 1000);
        assert_eq!(delay_ms(1, 1000, 300_000, 1.0), 2000);
        assert_eq!(delay_ms(5, 1000, 300_000, 1.0), 32_000);
        assert_eq!(delay_ms(20, 1000, 300_000, 1.0), 300_000);
        assert_eq!(delay_ms(u32::MAX, 1000, 300_000, 1.0), 300_000);
    }

    #[test]
    fn jitter_keeps_the_delay_between_half_and_all() {
        assert_eq!(delay_ms(3, 1000, 300_000, 0.0), 4000);
        assert_eq!(delay_ms(3, 1000, 300_000, 0.5), 6000);
        for _ in 0..100 {
            let d = delay_ms(4, 1000, 300_000, random_jitter());
            assert!((8000..=16_000).contains(&d), "{d}");
        }
        let spread: std::collections::HashSet<u64> = (0..50)
            .map(|_| delay_ms(4, 1000, 300_000, random_jitter()))
            .collect();
        assert!(spread.len() > 10, "jitter spreads retries");
    }
}
