//! A PostgreSQL for tests: `SEALGATE_TEST_POSTGRES_URL` (a superuser URL), else a
//! throwaway cluster started by `scripts/pg-scratch.sh` for this test process. Without
//! PostgreSQL the tests that need it are skipped, unless `SEALGATE_REQUIRE_POSTGRES=1` (CI)
//! makes that a failure. Nothing of the crate's: the integration tests include this file too.

use std::sync::OnceLock;

/// A new, empty database named `name` on the test server, as a URL; None when no
/// PostgreSQL is available (and none is required).
#[allow(clippy::unwrap_used, reason = "test scaffolding")]
pub(crate) async fn new_database(name: &str) -> Option<String> {
    let url = server_url()?;
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// The test server's superuser URL, started on first use.
fn server_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("SEALGATE_TEST_POSTGRES_URL") {
            return Some(url);
        }
        match start_scratch_server() {
            Ok(url) => Some(url),
            Err(e) if required() => panic!("SEALGATE_REQUIRE_POSTGRES is set: {e}"),
            Err(e) => {
                eprintln!("PostgreSQL tests skipped: {e}");
                None
            }
        }
    })
    .as_deref()
}

fn required() -> bool {
    std::env::var("SEALGATE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

#[allow(clippy::unwrap_used, reason = "test scaffolding")]
fn start_scratch_server() -> Result<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-scratch.sh");
    let dir = tempfile::Builder::new()
        .prefix("sealgate-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let out = std::process::Command::new(script)
        .arg(&dir)
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .output()
        .map_err(|e| format!("{script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}
