//! Who a request acts for when S3 calls the KMS on its behalf: the signing principal with
//! its identity policies and the connection facts key policies may test.

use s3s::auth::Credentials;

use super::SealgateS3;
use super::request::transport;
use crate::kms::Caller;

impl SealgateS3 {
    /// The KMS caller for a request; `None` for an anonymous one.
    pub(super) fn kms_caller(
        &self,
        credentials: Option<&Credentials>,
        ext: &http::Extensions,
    ) -> Option<Caller> {
        let identity = self.identities.lookup(&credentials?.access_key)?;
        Some(Caller {
            principal: identity.principal.clone(),
            identity_policies: identity.policies.clone(),
            source_ip: None,
            secure_transport: transport(ext).tls,
            via_service: None,
        })
    }
}
