//! Who calls a KMS operation, as the key service sees it: the edge (KMS or S3) fills it
//! in after authentication, the service decides with it and audits it.

use std::sync::Arc;

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
