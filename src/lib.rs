//! sealgate: an S3-compatible gateway that encrypts every object it stores.
//! The layers and their promises are described in DESIGN.md; dependencies point down:
//! `s3` → `objects` → (`crypto`, `catalog`, `blobstore`).

pub mod admin;
mod arn;
pub mod audit;
mod aws_error;
pub mod blobstore;
mod bucket_settings;
pub mod catalog;
pub mod client;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod fleet;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod iam;
pub mod identity;
pub mod kms;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod objects;
pub mod observe;
pub mod policy;
pub mod postgres;
pub mod replication;
pub mod s3;
pub mod s3ec;
pub mod server;
pub mod setup;
mod sigv4;
pub mod space;
pub mod tagging;
