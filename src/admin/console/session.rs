//! Console sessions: who signed in, held in this process's memory only (a restart signs
//! everyone out), a random 256-bit token in a cookie, a CSRF token per session, idle and
//! absolute expiry, and the limit on failed sign-ins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

pub(super) const COOKIE: &str = "sealgate_console";

/// How long a session lives, in milliseconds of the gateway's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lifetimes {
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

/// A signed-in user, as the console knows them between requests. The identity itself
/// (policies, whether the key still exists) is looked up again on every request.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub access_key: String,
    pub csrf: String,
    created_ms: i64,
    last_seen_ms: i64,
}

/// Tokens are kept by their SHA-256, so a lookup never compares secret bytes.
type TokenHash = [u8; 32];

fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

pub(super) struct Sessions {
    lifetimes: Lifetimes,
    live: Mutex<HashMap<TokenHash, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

/// Failed sign-ins from one address within the current window.
struct Failures {
    window_start_ms: i64,
    count: u32,
}

/// At most this many failed sign-ins per address and window; more are refused unchecked.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW_MS: i64 = 60_000;
/// Beyond this many sessions or tracked addresses, expired entries are dropped first and,
/// failing that, new ones refused: memory stays bounded whatever clients do.
const MAX_ENTRIES: usize = 10_000;

impl Sessions {
    pub(super) fn new(lifetimes: Lifetimes) -> Sessions {
        Sessions {
            lifetimes,
            live: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; answers its token (for the cookie), or None when the table is
    /// full of live sessions.
    pub(super) fn start(&self, access_key: &str, now_ms: i64) -> Option<String> {
        let token = crate::crypto::random_hex(32);
        let session = Session {
            access_key: access_key.to_owned(),
            csrf: crate::crypto::random_hex(32),
            created_ms: now_ms,
            last_seen_ms: now_ms,
        };
        let mut live = self.live.lock().ok()?;
        if live.len() >= MAX_ENTRIES {
            live.retain(|_, s| self.alive(s, now_ms));
            if live.len() >= MAX_ENTRIES {
                return None;
            }
        }
        live.insert(hash(&token), session);
        Some(token)
    }

    fn alive(&self, s: &Session, now_ms: i64) -> bool {
        now_ms - s.last_seen_ms < self.lifetimes.idle_ms
            && now_ms - s.created_ms < self.lifetimes.absolute_ms
    }

    /// The session of `token`, its idle time restarted; an expired one is ended.
    pub(super) fn touch(&self, token: &str, now_ms: i64) -> Option<Session> {
        let mut live = self.live.lock().ok()?;
        let key = hash(token);
        let session = live.get_mut(&key)?;
        if !self.alive(session, now_ms) {
            live.remove(&key);
            return None;
        }
        session.last_seen_ms = now_ms;
        Some(session.clone())
    }

    pub(super) fn end(&self, token: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&hash(token));
        }
    }

    /// Whether `ip` may try to sign in now.
    pub(super) fn may_try(&self, ip: Option<IpAddr>, now_ms: i64) -> bool {
        let (Some(ip), Ok(failures)) = (ip, self.failures.lock()) else {
            return true;
        };
        failures.get(&ip).is_none_or(|f| {
            now_ms - f.window_start_ms >= FAILURE_WINDOW_MS || f.count < MAX_FAILURES
        })
    }

    pub(super) fn failed(&self, ip: Option<IpAddr>, now_ms: i64) {
        let (Some(ip), Ok(mut failures)) = (ip, self.failures.lock()) else {
            return;
        };
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| now_ms - f.window_start_ms < FAILURE_WINDOW_MS);
        }
        let f = failures.entry(ip).or_insert(Failures {
            window_start_ms: now_ms,
            count: 0,
        });
        if now_ms - f.window_start_ms >= FAILURE_WINDOW_MS {
            *f = Failures {
                window_start_ms: now_ms,
                count: 0,
            };
        }
        f.count = f.count.saturating_add(1);
    }
}

/// Whether `given` is the session's CSRF token, compared in constant time.
pub(super) fn csrf_matches(session: &Session, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(session.csrf.as_bytes())))
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub(super) fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The `Set-Cookie` value that hands a session token to the browser. `secure` when the
/// console is served over TLS.
pub(super) fn set_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub(super) fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Lifetimes {
            idle_ms: 1_000,
            absolute_ms: 5_000,
        })
    }

    #[test]
    fn sessions_end_after_idle_time_and_absolute_lifetime() {
        let s = sessions();
        let token = s.start("AK", 0).unwrap();
        assert_eq!(token.len(), 64, "256 bits of hex");
        assert_eq!(s.touch(&token, 999).unwrap().access_key, "AK");
        // Each request restarts the idle time...
        for t in [1_900, 2_800, 3_700, 4_600] {
            assert!(s.touch(&token, t).is_some(), "at {t}");
        }
        // ...but not the absolute lifetime.
        assert!(s.touch(&token, 5_000).is_none());
        let token = s.start("AK", 10_000).unwrap();
        assert!(s.touch(&token, 11_000).is_none(), "idle for a full second");
        assert!(
            s.touch(&token, 10_001).is_none(),
            "an expired session stays ended"
        );
    }

    #[test]
    fn unknown_and_ended_tokens_have_no_session() {
        let s = sessions();
        let token = s.start("AK", 0).unwrap();
        assert!(s.touch("00", 1).is_none());
        assert!(s.touch(&token.to_uppercase(), 1).is_none());
        s.end(&token);
        assert!(s.touch(&token, 1).is_none());
        let other = s.start("AK", 0).unwrap();
        assert_ne!(other, token);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_required() {
        let s = sessions();
        let a = s.touch(&s.start("AK", 0).unwrap(), 0).unwrap();
        let b = s.touch(&s.start("AK", 0).unwrap(), 0).unwrap();
        assert!(csrf_matches(&a, Some(&a.csrf)));
        assert!(!csrf_matches(&a, Some(&b.csrf)));
        assert!(!csrf_matches(&a, None));
        assert!(!csrf_matches(&a, Some("")));
        assert!(!csrf_matches(&a, Some(&a.csrf[..63])));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = "theme=dark; sealgate_console_old=x; sealgate_console=abc123 ; z=1";
        assert_eq!(cookie(h, COOKIE), Some("abc123"));
        assert_eq!(cookie("sealgate_console=\"q\"", COOKIE), Some("q"));
        assert_eq!(cookie("a=1", COOKIE), None);
        assert_eq!(cookie("", COOKIE), None);
        assert_eq!(cookie("sealgate_console", COOKIE), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_under_tls() {
        let c = set_cookie("t", false);
        assert_eq!(
            c,
            "sealgate_console=t; Path=/console; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie("t", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn failed_sign_ins_are_limited_per_address_and_window() {
        let s = sessions();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..MAX_FAILURES {
            assert!(s.may_try(Some(ip), 0));
            s.failed(Some(ip), 0);
        }
        assert!(!s.may_try(Some(ip), 1_000));
        assert!(s.may_try(Some(other), 1_000));
        assert!(s.may_try(Some(ip), FAILURE_WINDOW_MS));
        s.failed(Some(ip), FAILURE_WINDOW_MS);
        assert!(s.may_try(Some(ip), FAILURE_WINDOW_MS + 1));
    }
}
