//! Storage backends for tests: an S3 server in this process (s3s-fs, on the same s3s as
//! the gateway), and the servers `tests/backends.py` starts as child processes (moto,
//! Azurite, fake-gcs-server), each with a bucket made for the test.

#![allow(dead_code, reason = "each test binary uses part of this")]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use sealgate::config::{Backend, Config};

pub(crate) const TEST_ACCESS_KEY: &str = "AKIATESTBACKEND00001";
pub(crate) const TEST_SECRET_KEY: &str = "test-backend-secret";
pub(crate) const TEST_BUCKET: &str = "sealgate-test";

/// An S3 server (s3s-fs) in this process over a directory; it can be killed mid-request
/// and started again on the same port and directory.
pub(crate) struct InProcessS3 {
    pub(crate) endpoint: String,
    addr: SocketAddr,
    root: tempfile::TempDir,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl InProcessS3 {
    pub(crate) async fn start() -> InProcessS3 {
        let root = tempfile::tempdir().expect("s3s-fs root");
        std::fs::create_dir(root.path().join(TEST_BUCKET)).expect("bucket directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let addr = listener.local_addr().expect("address");
        let s3 = InProcessS3 {
            endpoint: format!("http://{addr}"),
            addr,
            root,
            tasks: Default::default(),
        };
        s3.serve(listener);
        s3
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let fs = s3s_fs::FileSystem::new(self.root.path()).expect("s3s-fs");
        let mut b = s3s::service::S3ServiceBuilder::new(fs);
        b.set_auth(s3s::auth::SimpleAuth::from_single(
            TEST_ACCESS_KEY,
            TEST_SECRET_KEY,
        ));
        let service = b.build();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                if let Ok(mut t) = tasks.lock() {
                    t.push(task);
                }
            }
        });
        if let Ok(mut t) = self.tasks.lock() {
            t.push(accept);
        }
    }

    /// Stops answering at once: the listener and every open connection are dropped.
    pub(crate) fn kill(&self) {
        if let Ok(mut t) = self.tasks.lock() {
            for task in t.drain(..) {
                task.abort();
            }
        }
    }

    /// Serves again on the same port and directory.
    pub(crate) async fn restart(&self) {
        self.kill();
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("the same port again");
        self.serve(listener);
    }

    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// A configuration whose blobs go to this server's bucket, under `prefix`.
    pub(crate) fn config(&self, prefix: &str) -> Config {
        let mut c = Config::default();
        let s = &mut c.storage;
        s.backend = Backend::S3;
        s.bucket = Some(TEST_BUCKET.into());
        s.prefix = prefix.into();
        s.endpoint = Some(self.endpoint.clone());
        s.region = Some("us-east-1".into());
        s.allow_http = true;
        s.access_key_id = Some(TEST_ACCESS_KEY.into());
        s.secret_access_key = Some(TEST_SECRET_KEY.into());
        s.part_size_mib = 5;
        quick_failures(&mut c);
        c
    }
}

impl Drop for InProcessS3 {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Few, quick retries: a test that stops its backend should not wait a minute.
pub(crate) fn quick_failures(c: &mut Config) {
    let s = &mut c.storage;
    s.connect_timeout_secs = 2;
    s.request_timeout_secs = 10;
    s.max_retries = 2;
    s.retry_init_backoff_ms = 50;
    s.retry_max_backoff_secs = 1;
    s.retry_timeout_secs = 5;
}

/// What `tests/backends.py serve` reports of the server it started.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Served {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
    pub(crate) region: String,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) service_account: Option<String>,
}

/// A test server in a child process, run by `tests/backends.py`.
pub(crate) struct External {
    pub(crate) served: Served,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    dir: tempfile::TempDir,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl External {
    /// Starts `name` (moto, azurite, fake-gcs) with the Python of `SEALGATE_TEST_PYTHON`
    /// (scripts/test.sh points it at the test venv, where the servers are installed).
    /// Without it the server cannot be run here: `None`, unless
    /// `SEALGATE_REQUIRE_BACKENDS` says every backend must be tested (as CI does).
    pub(crate) fn start(name: &str) -> Option<External> {
        let Some(python) = std::env::var_os("SEALGATE_TEST_PYTHON") else {
            assert!(
                std::env::var_os("SEALGATE_REQUIRE_BACKENDS").is_none(),
                "SEALGATE_TEST_PYTHON is not set, so {name} cannot be started"
            );
            eprintln!("skipping {name}: SEALGATE_TEST_PYTHON is not set (scripts/test.sh sets it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut child = Command::new(python)
            .arg(repo().join("tests/backends.py"))
            .args(["serve", name])
            .env("TMPDIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tests/backends.py");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server's description");
        let served: Served = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{name} did not start ({e}): {line:?}"));
        Some(External {
            served,
            child,
            stdin: Some(stdin),
            stdout,
            dir,
        })
    }

    /// Sends a command ("kill", "restart", "seed NAME HEX", "uploads") and returns the
    /// answer line.
    pub(crate) fn command(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("a running helper");
        writeln!(stdin, "{command}").expect("command");
        stdin.flush().expect("command");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        line.trim().to_owned()
    }

    /// A configuration whose blobs go to this server's bucket, under `prefix`.
    pub(crate) fn config(&self, prefix: &str) -> Config {
        let s = &self.served;
        let mut c = Config::default();
        let st = &mut c.storage;
        st.bucket = Some(s.bucket.clone());
        st.prefix = prefix.into();
        st.endpoint = Some(s.endpoint.clone());
        st.allow_http = true;
        st.part_size_mib = 5;
        match s.kind.as_str() {
            "s3" => {
                st.backend = Backend::S3;
                st.region = Some(s.region.clone());
                st.access_key_id = Some(s.access_key.clone());
                st.secret_access_key = Some(s.secret_key.clone());
            }
            "azure" => {
                st.backend = Backend::Azure;
                st.account = Some(s.access_key.clone());
                let key = self.dir.path().join("azure.key");
                std::fs::write(&key, &s.secret_key).expect("key file");
                st.access_key_file = Some(key);
            }
            _ => {
                st.backend = Backend::Gcs;
                let key = self.dir.path().join("gcs.json");
                std::fs::write(&key, s.service_account.as_deref().unwrap_or("{}"))
                    .expect("service account file");
                st.service_account_key_file = Some(key);
                st.endpoint = None;
            }
        }
        quick_failures(&mut c);
        c
    }
}

impl Drop for External {
    fn drop(&mut self) {
        // Closing stdin stops the server; the helper then exits.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
