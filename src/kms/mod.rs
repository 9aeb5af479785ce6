//! The built-in key management service, speaking the AWS KMS API: keys and their life
//! (rotation, deletion, imported material), aliases, grants, key policies, and the
//! cryptographic operations. Key material rests only sealed under the root of trust.

mod access;
pub mod api;
mod caller;
mod changes;
pub mod ciphertext;
pub mod errors;
mod input;
pub mod material;
pub mod model;
mod ops_crypto;
mod ops_grants;
mod ops_import;
mod ops_keys;
pub mod quota;
pub mod root;
pub mod service;
mod shapes;
pub mod store;

pub use api::{KmsApi, is_kms_request};
pub use caller::Caller;
pub use errors::{KmsError, KmsResult};
pub use ops_crypto::DataKeyOutput;
pub use service::{DeletionGuard, KmsService, KmsSettings, Note};
pub use store::KeyStore;
#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod tests;
