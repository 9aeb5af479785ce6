//! `sealgate cse put|get`: client-side encryption in the AWS S3 Encryption Client's format
//! (src/client/). Only ciphertext leaves this process; data keys come from KMS.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::progress::{Progress, Unit};
use sealgate::client::credentials::{self, ProcessEnv};
use sealgate::client::http::{Client, Endpoint, Signer, Trust, tls_connector};
use sealgate::s3ec::format::Context;
use sealgate::s3ec::get::{self, Get};
use sealgate::s3ec::kms::Kms;
use sealgate::s3ec::object::{S3Url, Session};
use sealgate::s3ec::put::{self, Put};

#[derive(Subcommand)]
pub(crate) enum CseCommand {
    /// Encrypt FILE locally and upload it to s3://BUCKET/KEY (format v3).
    Put(PutArgs),
    /// Download s3://BUCKET/KEY and decrypt it into FILE (formats v3 and v2).
    Get(GetArgs),
}

#[derive(Args)]
pub(crate) struct Connection {
    /// S3 endpoint, e.g. http://127.0.0.1:8014; also the KMS endpoint unless
    /// --kms-endpoint-url is given [env: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL].
    #[arg(long)]
    endpoint_url: Option<String>,
    /// KMS endpoint, when it is not the S3 one [env: AWS_ENDPOINT_URL_KMS].
    #[arg(long)]
    kms_endpoint_url: Option<String>,
    /// Region to sign for [default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Encryption context entry (repeatable); must match on get exactly.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Accept any TLS certificate (for a gateway started with --tls-self-signed).
    #[arg(long, conflicts_with = "ca_cert")]
    insecure: bool,
    /// PEM file of the certificates to trust for https endpoints.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct PutArgs {
    file: PathBuf,
    /// s3://BUCKET/KEY
    dest: String,
    /// KMS key that wraps the data key: key id, key ARN, alias/NAME or alias ARN.
    #[arg(long)]
    kms_key_id: String,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Args)]
pub(crate) struct GetArgs {
    /// s3://BUCKET/KEY
    src: String,
    file: PathBuf,
    /// When given, the data key must have been wrapped under this KMS key.
    #[arg(long)]
    kms_key_id: Option<String>,
    /// Also read objects whose data key used the legacy `kms` wrapping (S3 Encryption
    /// Client v1), which binds no encryption context to the content algorithm.
    #[arg(long)]
    enable_legacy_wrapping: bool,
    /// Also read objects with legacy AES-CBC content, which nothing authenticates: an
    /// altered object may decrypt to altered data without an error.
    #[arg(long)]
    enable_legacy_unauthenticated_modes: bool,
    #[command(flatten)]
    conn: Connection,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

impl Connection {
    fn context(&self) -> Result<Context, String> {
        let mut c = Context::new();
        for (k, v) in &self.context {
            if c.insert(k.clone(), v.clone()).is_some() {
                return Err(format!("--context {k} is given twice"));
            }
        }
        Ok(c)
    }

    fn session(&self) -> Result<Session, String> {
        let env = ProcessEnv;
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let s3_url = self
            .endpoint_url
            .clone()
            .or_else(|| var("AWS_ENDPOINT_URL_S3"))
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .ok_or("--endpoint-url is required (or AWS_ENDPOINT_URL)")?;
        let kms_url = self
            .kms_endpoint_url
            .clone()
            .or_else(|| var("AWS_ENDPOINT_URL_KMS"))
            .unwrap_or_else(|| s3_url.clone());
        let creds = credentials::credentials(&env)?;
        let region = self
            .region
            .clone()
            .unwrap_or_else(|| credentials::region(&env));
        let trust = if self.insecure {
            Some(Trust::Insecure)
        } else {
            self.ca_cert.clone().map(Trust::CaFile)
        };
        let connector = |ep: &Endpoint| -> Result<_, String> {
            match (&trust, ep.tls) {
                (_, false) => Ok(None),
                (Some(t), true) => tls_connector(t).map(Some),
                (None, true) => Err(
                    "https endpoints need --ca-cert (or --insecure for a self-signed gateway)"
                        .into(),
                ),
            }
        };
        let s3_ep = Arc::new(Endpoint::parse(&s3_url)?);
        let kms_ep = Arc::new(Endpoint::parse(&kms_url)?);
        let s3_tls = connector(&s3_ep)?;
        let kms_tls = connector(&kms_ep)?;
        let s3_signer = Arc::new(Signer::with_credentials(creds.clone(), &region, "s3"));
        let kms_signer = Arc::new(Signer::with_credentials(creds, &region, "kms"));
        Ok(Session {
            s3: Box::new(move || Client::new(s3_ep.clone(), s3_tls.clone(), s3_signer.clone())),
            kms: Kms::new(Client::new(kms_ep, kms_tls, kms_signer)),
        })
    }
}

pub(crate) fn run(command: CseCommand) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match command {
            CseCommand::Put(a) => {
                let dest = S3Url::parse(&a.dest)?;
                let context = a.conn.context()?;
                let mut session = a.conn.session()?;
                let total = std::fs::metadata(&a.file).map(|m| m.len()).ok();
                let (progress, counter) =
                    Progress::counting(format!("encrypting to {dest}"), total, Unit::Bytes);
                let result = put::put(
                    &mut session,
                    Put {
                        file: &a.file,
                        dest: &dest,
                        key_id: &a.kms_key_id,
                        context: &context,
                        progress: counter,
                    },
                )
                .await;
                progress.finish();
                let size = result.map_err(|e| e.to_string())?;
                eprintln!(
                    "encrypted {} ({size} bytes) to {dest} (S3 Encryption Client v3, key {})",
                    a.file.display(),
                    a.kms_key_id
                );
                Ok(())
            }
            CseCommand::Get(a) => {
                let src = S3Url::parse(&a.src)?;
                let context = a.conn.context()?;
                let mut session = a.conn.session()?;
                let (progress, counter) =
                    Progress::counting(format!("decrypting {src}"), None, Unit::Bytes);
                let result = get::get(
                    &mut session,
                    Get {
                        src: &src,
                        file: &a.file,
                        key_id: a.kms_key_id.as_deref(),
                        context: &context,
                        legacy_wrapping: a.enable_legacy_wrapping,
                        legacy_unauthenticated: a.enable_legacy_unauthenticated_modes,
                        progress: counter,
                    },
                )
                .await;
                progress.finish();
                let (size, format) = result.map_err(|e| e.to_string())?;
                eprintln!(
                    "decrypted {src} ({format}) into {} ({size} bytes)",
                    a.file.display()
                );
                Ok(())
            }
        }
    })
}
