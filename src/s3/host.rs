//! Which bucket a request addresses: virtual-hosted style (`BUCKET.DOMAIN`, for each of
//! `[s3] domains`) or path style (`/BUCKET/KEY`, on any other host name, an IP address
//! included). One decision, used by the protocol crate and by the routes answered before
//! it (the CORS preflight, bucket encryption).

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The gateway's own domains, lowercase, none inside another (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Domains(std::sync::Arc<[String]>);

/// What a request names: a bucket (if any) and whether it names an object in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    pub bucket: String,
    pub object: bool,
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl Domains {
    pub fn new(domains: &[String]) -> Result<Domains, String> {
        let mut kept: Vec<String> = Vec::new();
        for d in domains {
            let d = d.to_ascii_lowercase();
            if !valid_domain(&d) {
                return Err(format!(
                    "s3.domains: {d:?} is not a domain name (labels of letters, digits and '-'; no port)"
                ));
            }
            if let Some(other) = kept.iter().find(|o| {
                **o == d || o.ends_with(&format!(".{d}")) || d.ends_with(&format!(".{o}"))
            }) {
                return Err(format!(
                    "s3.domains: {d:?} and {other:?} overlap: a host name must name one bucket"
                ));
            }
            kept.push(d);
        }
        Ok(Domains(kept.into()))
    }

    /// The bucket a `Host` header names in virtual-hosted style; None for path style.
    pub fn bucket_of_host<'a>(&self, host: &'a str) -> Option<&'a str> {
        // An IPv6 literal is never one of the domains.
        if host.starts_with('[') {
            return None;
        }
        let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
        self.0.iter().find_map(|d| {
            let cut = name.len().checked_sub(d.len() + 1)?;
            let (bucket, rest) = name.split_at(cut);
            (rest.len() == d.len() + 1
                && rest.starts_with('.')
                && rest[1..].eq_ignore_ascii_case(d)
                && !bucket.is_empty())
            .then_some(bucket)
        })
    }

    /// What a request with this `Host` and path addresses.
    pub fn addressed(&self, host: Option<&str>, path: &str) -> Option<Addressed> {
        if let Some(bucket) = host.and_then(|h| self.bucket_of_host(h)) {
            return Some(Addressed {
                bucket: bucket.to_owned(),
                object: path.len() > 1,
            });
        }
        let rest = path.strip_prefix('/')?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| Addressed {
            bucket: bucket.to_owned(),
            object: !key.is_empty(),
        })
    }

    /// What a request addresses, from its headers and URI.
    pub fn of<B>(&self, req: &http::Request<B>) -> Option<Addressed> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        self.addressed(host, req.uri().path())
    }
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of_host(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Domains {
        Domains::new(&["s3.example.com".into(), "S3.Internal".into()]).unwrap()
    }

    #[test]
    fn buckets_are_named_by_subdomains_of_a_configured_domain_only() {
        let d = domains();
        assert_eq!(d.bucket_of_host("photos.s3.example.com"), Some("photos"));
        assert_eq!(
            d.bucket_of_host("my.dotted.bucket.s3.example.com:8014"),
            Some("my.dotted.bucket")
        );
        assert_eq!(d.bucket_of_host("logs.s3.internal"), Some("logs"));
        for path_style in [
            "s3.example.com",
            "s3.example.com:8014",
            "127.0.0.1:8014",
            "[::1]:8014",
            "photos.other.example.com",
            "xs3.example.com",
            ".s3.example.com",
        ] {
            assert_eq!(d.bucket_of_host(path_style), None, "{path_style}");
        }
    }

    #[test]
    fn what_a_request_addresses() {
        let d = domains();
        let a = |host, path| d.addressed(Some(host), path);
        let named = |bucket: &str, object| {
            Some(Addressed {
                bucket: bucket.into(),
                object,
            })
        };
        assert_eq!(a("b.s3.example.com", "/"), named("b", false));
        assert_eq!(a("b.s3.example.com", "/k/x"), named("b", true));
        assert_eq!(a("127.0.0.1:1", "/b/k"), named("b", true));
        assert_eq!(a("s3.example.com", "/b"), named("b", false));
        assert_eq!(a("127.0.0.1:1", "/"), None);
    }

    #[test]
    fn overlapping_or_malformed_domains_are_refused() {
        assert!(Domains::new(&["s3.example.com".into(), "example.com".into()]).is_err());
        assert!(Domains::new(&["s3.example.com".into(), "s3.example.com".into()]).is_err());
        assert!(Domains::new(&["s3.example.com:8014".into()]).is_err());
        assert!(Domains::new(&["".into()]).is_err());
        assert!(Domains::new(&["s3.example.com".into(), "other.example.com".into()]).is_ok());
    }
}
