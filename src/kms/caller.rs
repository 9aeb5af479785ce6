//! Who calls a KMS operation, as the key service sees it: the edge (KMS or S3) fills it
//! in after authentication, the service decides with it and audits it.

use std::sync::Arc;

use crate::identity::{Identity, Peer};
use crate::policy::{Policy, Principal};

/// The authenticated caller of a KMS operation.
#[derive(Clone)]
pub struct Caller {
    pub principal: Principal,
    pub identity_policies: Vec<Arc<Policy>>,
    pub source_ip: Option<String>,
    pub secure_transport: bool,
    /// Set when a service (S3) calls on the principal's behalf, e.g. `s3.us-east-1.amazonaws.com`.
    pub via_service: Option<String>,
    /// The request a service's call is part of: its audit record carries that id.
    pub request_id: Option<String>,
}

impl Caller {
    /// An identity calling the key service itself (the KMS API, the console), over `peer`.
    pub fn direct(identity: &Identity, peer: Peer) -> Caller {
        Caller {
            principal: identity.principal.clone(),
            identity_policies: identity.policies.clone(),
            source_ip: peer.ip.map(|ip| ip.to_string()),
            secure_transport: peer.tls,
            via_service: None,
            request_id: None,
        }
    }
}
