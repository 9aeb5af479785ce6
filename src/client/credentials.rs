//! Credentials and region the way the aws CLI finds them: the `AWS_*` environment
//! variables first, then the profile (`AWS_PROFILE`, else `default`) in the shared
//! credentials and config files (`~/.aws/credentials`, `~/.aws/config`, or the files named
//! by `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use aws_credential_types::Credentials;

pub const DEFAULT_REGION: &str = "us-east-1";

/// The environment, injected so tests need not change the process's own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn read(&self, path: &std::path::Path) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn read(&self, path: &std::path::Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// The subset of INI the AWS files use: `[section]`, `key = value`, `#`/`;` comments.
/// Indented lines continue a nested setting (e.g. `s3 =` blocks) and are skipped.
fn parse_ini(text: &str) -> Sections {
    let mut out = Sections::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn home_file(env: &dyn Env, var: &str, name: &str) -> Option<PathBuf> {
    env.var(var).map(PathBuf::from).or_else(|| {
        env.var("HOME")
            .map(|h| PathBuf::from(h).join(".aws").join(name))
    })
}

struct Profile {
    name: String,
    credentials: BTreeMap<String, String>,
    config: BTreeMap<String, String>,
}

impl Profile {
    fn load(env: &dyn Env) -> Profile {
        let name = env.var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let read = |var, file| {
            home_file(env, var, file)
                .and_then(|p| env.read(&p))
                .map(|t| parse_ini(&t))
                .unwrap_or_default()
        };
        let mut credentials = read("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let mut config = read("AWS_CONFIG_FILE", "config");
        let config_section = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        Profile {
            credentials: credentials.remove(&name).unwrap_or_default(),
            config: config.remove(&config_section).unwrap_or_default(),
            name,
        }
    }

    /// The credentials file wins over the config file, as in the aws CLI.
    fn get(&self, key: &str) -> Option<String> {
        self.credentials
            .get(key)
            .or_else(|| self.config.get(key))
            .filter(|v| !v.is_empty())
            .cloned()
    }
}

pub fn credentials(env: &dyn Env) -> Result<Credentials, String> {
    if let Some(ak) = env.var("AWS_ACCESS_KEY_ID") {
        let sk = env
            .var("AWS_SECRET_ACCESS_KEY")
            .ok_or("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")?;
        return Ok(Credentials::new(
            ak,
            sk,
            env.var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ));
    }
    let p = Profile::load(env);
    match (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        (Some(ak), Some(sk)) => Ok(Credentials::new(
            ak,
            sk,
            p.get("aws_session_token"),
            None,
            "profile",
        )),
        _ => Err(format!(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile {:?} \
             aws_access_key_id and aws_secret_access_key in ~/.aws/credentials",
            p.name
        )),
    }
}

pub fn region(env: &dyn Env) -> String {
    env.var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .or_else(|| Profile::load(env).get("region"))
        .unwrap_or_else(|| DEFAULT_REGION.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    struct FakeEnv(BTreeMap<&'static str, &'static str>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
        fn read(&self, path: &Path) -> Option<String> {
            self.0.get(path.to_str()?).map(|v| v.to_string())
        }
    }

    const CREDS: &str = "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = skdef\n\n# c\n[work]\naws_access_key_id=AKWORK\naws_secret_access_key = skwork\naws_session_token = tok\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\ns3 =\n    region = ignored\n[profile work]\nregion = ap-south-1\n";

    fn env(vars: &[(&'static str, &'static str)]) -> FakeEnv {
        let mut m: BTreeMap<_, _> = [
            ("HOME", "/home/u"),
            ("/home/u/.aws/credentials", CREDS),
            ("/home/u/.aws/config", CONFIG),
        ]
        .into_iter()
        .collect();
        m.extend(vars.iter().copied());
        FakeEnv(m)
    }

    #[test]
    fn environment_then_profile() {
        let c = credentials(&env(&[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "skenv"),
            ("AWS_SESSION_TOKEN", "t"),
        ]))
        .unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("AKENV", Some("t")));
        assert!(credentials(&env(&[("AWS_ACCESS_KEY_ID", "AKENV")])).is_err());

        let c = credentials(&env(&[])).unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("AKDEF", None));
        assert_eq!(region(&env(&[])), "eu-west-1");

        let work = env(&[("AWS_PROFILE", "work")]);
        let c = credentials(&work).unwrap();
        assert_eq!(
            (c.access_key_id(), c.session_token()),
            ("AKWORK", Some("tok"))
        );
        assert_eq!(region(&work), "ap-south-1");
        assert_eq!(
            region(&env(&[
                ("AWS_PROFILE", "work"),
                ("AWS_DEFAULT_REGION", "us-west-2")
            ])),
            "us-west-2"
        );
        assert!(credentials(&env(&[("AWS_PROFILE", "missing")])).is_err());
        assert_eq!(region(&FakeEnv(BTreeMap::new())), DEFAULT_REGION);
    }
}
