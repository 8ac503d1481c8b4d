//! Service settings, layered: built-in defaults, then a settings file (`--config yuqing.toml`),
//! then `YUQING__SECTION__KEY` environment variables (e.g. `YUQING__DATABASE__URL`,
//! `YUQING__WEB__LISTEN`), then command-line flags. Secrets (a database password, later bot tokens)
//! come only from the environment: a settings file that holds one is refused.
//!
//! `examples/yuqing.toml` lists every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: Database,
    pub paths: Paths,
    pub web: Web,
    pub collect: Collect,
    pub alerts: Alerts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    /// The web app's address as officials reach it, for links in notifications
    /// (default: `http://` and the listen address).
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// `sqlite://PATH` or `postgres://…`; default: SQLite at `DATA/yuqing.db`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Paths {
    /// The data folder: the embedded database, the search index, backups.
    pub data: PathBuf,
    /// The county configuration folder (default: ./config, else the copy in the binary).
    pub config: Option<PathBuf>,
    /// The dictionaries folder (default: ./dictionaries, else the copy in the binary).
    pub dictionaries: Option<PathBuf>,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { data: PathBuf::from("data"), config: None, dictionaries: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// Where `yuqing run` serves the pages, probes and push API (none by default).
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Collect {
    /// This worker's name in source leases (default: host name and process id).
    pub worker: Option<String>,
    /// Seconds a claimed source is held before another worker may take it.
    pub lease_secs: i64,
    /// Sources crawled at once (polls kept in flight).
    pub claim_limit: u32,
    /// Days after which post text, author handles and evidence are purged (0: keep forever).
    pub retention_days: u32,
}

impl Default for Collect {
    fn default() -> Self {
        Collect { worker: None, lease_secs: 300, claim_limit: 32, retention_days: 180 }
    }
}

static LOADED: OnceLock<Settings> = OnceLock::new();

/// The settings in force (defaults and environment when [`init`] was not called).
pub fn get() -> &'static Settings {
    LOADED.get_or_init(|| load(None).unwrap_or_default())
}

/// Loads the layers once at start; later calls to [`get`] see the result.
pub fn init(file: Option<&Path>) -> Result<&'static Settings> {
    let s = load(file)?;
    Ok(LOADED.get_or_init(|| s))
}

/// Defaults ← `file` ← `YUQING__SECTION__KEY` environment variables.
pub fn load(file: Option<&Path>) -> Result<Settings> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(f) = file {
        if !f.is_file() {
            bail!("settings file {} not found", f.display());
        }
        let from_file: Settings =
            Figment::from(Toml::file(f)).extract().map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        if let Some(u) = &from_file.database.url
            && has_password(u)
        {
            bail!(
                "{}: database.url holds a password; secrets come only from the environment \
                 (set YUQING__DATABASE__URL instead)",
                f.display()
            );
        }
        fig = fig.merge(Toml::file(f));
    }
    fig.merge(Env::prefixed("YUQING__").split("__"))
        .extract()
        .map_err(|e| anyhow::anyhow!("settings (file or YUQING__ environment): {e}"))
}

/// A URL with a password in its user part.
fn has_password(u: &str) -> bool {
    url::Url::parse(u).ok().is_some_and(|u| u.password().is_some_and(|p| !p.is_empty()))
}

impl Settings {
    /// The data folder: the flag, else the settings.
    pub fn data_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map_or_else(|| self.paths.data.clone(), Path::to_path_buf)
    }

    /// The database URL: the flag, else the settings (file or environment), else SQLite in the
    /// data folder (created if missing).
    pub fn database_url(&self, flag: Option<&str>, data: &Path) -> Result<String> {
        if let Some(u) = flag.or(self.database.url.as_deref()).filter(|u| !u.is_empty()) {
            return Ok(u.to_owned());
        }
        std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
        Ok(format!("sqlite://{}", data.join("yuqing.db").display()))
    }
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn layers_defaults_file_then_environment() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "yuqing.toml",
                "[paths]\ndata = \"/srv/yuqing\"\n[collect]\nretention_days = 90\nlease_secs = 60\n",
            )?;
            jail.set_env("YUQING__COLLECT__LEASE_SECS", "120");
            let s = load(Some(Path::new("yuqing.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.paths.data, PathBuf::from("/srv/yuqing"), "file over default");
            assert_eq!(s.collect.retention_days, 90, "file over default");
            assert_eq!(s.collect.lease_secs, 120, "environment over file");
            assert_eq!(s.collect.claim_limit, 32, "default kept");
            jail.set_env("YUQING__WEB__LISTEN", "127.0.0.1:8080");
            let s = load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.web.listen, Some(SocketAddr::from(([127, 0, 0, 1], 8080))));
            assert_eq!(s.collect.lease_secs, 120);
            let url =
                s.database_url(Some("sqlite://x.db"), Path::new("unused")).map_err(|e| e.to_string())?;
            assert_eq!(url, "sqlite://x.db", "a flag wins");
            Ok(())
        });
    }

    #[test]
    fn refuses_secrets_in_files_and_unknown_keys() {
        Jail::expect_with(|jail| {
            jail.create_file("yuqing.toml", "[database]\nurl = \"postgres://yuqing:hunter2@db/yuqing\"\n")?;
            let e = load(Some(Path::new("yuqing.toml"))).expect_err("password in a file");
            assert!(e.to_string().contains("YUQING__DATABASE__URL"), "{e}");
            // The same URL from the environment is how secrets arrive.
            jail.set_env("YUQING__DATABASE__URL", "postgres://yuqing:hunter2@db/yuqing");
            let s = load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.database.url.as_deref(), Some("postgres://yuqing:hunter2@db/yuqing"));
            jail.create_file("typo.toml", "[collect]\nretention = 3\n")?;
            let e = load(Some(Path::new("typo.toml"))).expect_err("unknown key");
            assert!(e.to_string().contains("retention"), "{e}");
            assert!(load(Some(Path::new("missing.toml"))).is_err());
            Ok(())
        });
    }
}
