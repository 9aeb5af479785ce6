//! The S3 and KMS client the gateway and its tools share: SigV4-signed HTTP/1.1 requests
//! over plain TCP or TLS (`http`), S3's small XML answers (`xml`), and credentials found
//! where the aws CLI finds them (`credentials`). Replication, `sealgate bench` and
//! `sealgate cse` all speak to S3 endpoints through it.

pub mod chunked;
pub mod credentials;
pub mod http;
pub mod xml;
