//! IAM: users, access keys, groups and managed policies made through the IAM API (`aws iam`,
//! boto3's `iam` client) on the gateway's port, kept sealed in the data directory.

pub mod api;
#[cfg(test)]
mod fleet_tests;
pub mod model;
mod requests;
pub mod service;
pub mod store;
#[cfg(test)]
mod tests;
mod xml;

pub use api::{IamApi, is_iam_request};
pub use service::{IamError, IamService};
pub use store::IamStore;
