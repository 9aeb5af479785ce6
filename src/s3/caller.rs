//! Who a request acts for when S3 calls the KMS on its behalf: the principal that
//! authorization found, with its identity policies and the connection facts key policies
//! may test.

use super::SealgateS3;
use super::access::CallerIdentity;
use crate::kms::Caller;

impl SealgateS3 {
    /// The KMS caller for a request; `None` for an anonymous one.
    pub(super) fn kms_caller(&self, ext: &http::Extensions) -> Option<Caller> {
        let identity = ext.get::<CallerIdentity>()?;
        if identity.principal.kind == crate::policy::PrincipalKind::Anonymous {
            return None;
        }
        Some(Caller {
            principal: identity.principal.clone(),
            identity_policies: identity.policies.clone(),
            source_ip: identity.source_ip.map(|ip| ip.to_string()),
            secure_transport: identity.secure_transport,
            via_service: None,
            request_id: ext
                .get::<crate::observe::RequestContext>()
                .map(|r| r.id().to_owned()),
        })
    }
}
