//! Where configuration and dictionaries come from: `--config`/`--dictionaries`, else `./config`
//! and `./dictionaries`, else the copies embedded in the binary at build time.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use yuqing_analysis::{Analyzer, CountyConfig, Dictionaries};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The configuration folder as built into the binary.
pub fn embedded_config() -> &'static [(&'static str, &'static str)] {
    embedded::CONFIG
}

/// The working-day calendar (`config/calendar/*.csv`) as built into the binary.
pub fn embedded_calendar() -> &'static [(&'static str, &'static str)] {
    embedded::CALENDAR
}

/// The demo's site and sources as built into the binary (`demo/`).
pub fn embedded_demo() -> &'static [(&'static str, &'static str)] {
    embedded::DEMO
}

/// Files of one folder as `(relative path, text)`.
#[derive(Debug, Clone)]
pub struct FileSet {
    pub origin: String,
    pub files: Vec<(String, String)>,
}

impl FileSet {
    fn embedded(origin: &str, files: &[(&str, &str)]) -> Self {
        Self { origin: origin.into(), files: files.iter().map(|(p, t)| ((*p).into(), (*t).into())).collect() }
    }

    fn read_dir(dir: &Path, ext: &str) -> Result<Self> {
        fn walk(root: &Path, dir: &Path, ext: &str, out: &mut Vec<(String, String)>) -> Result<()> {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    walk(root, &p, ext, out)?;
                } else if p.extension().is_some_and(|e| e == ext) {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                    out.push((rel, text));
                }
            }
            Ok(())
        }
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        let mut files = Vec::new();
        walk(dir, dir, ext, &mut files)?;
        Ok(Self { origin: dir.display().to_string(), files })
    }

    fn resolve(given: Option<&Path>, default: &str, ext: &str, embedded: &[(&str, &str)]) -> Result<Self> {
        match given {
            Some(d) => Self::read_dir(d, ext),
            None if Path::new(default).is_dir() => Self::read_dir(Path::new(default), ext),
            None => Ok(Self::embedded(&format!("(embedded {default})"), embedded)),
        }
    }
}

/// Loaded configuration and dictionaries.
#[derive(Debug)]
pub struct Resources {
    pub config: FileSet,
    pub dicts: FileSet,
}

impl Resources {
    pub fn load(config: Option<&Path>, dicts: Option<&Path>) -> Result<Self> {
        Ok(Self {
            config: FileSet::resolve(config, "config", "toml", embedded::CONFIG)?,
            dicts: FileSet::resolve(dicts, "dictionaries", "txt", embedded::DICTIONARIES)?,
        })
    }

    /// Parses the configuration; errors are listed one per line with their file.
    pub fn county(&self) -> Result<CountyConfig> {
        yuqing_analysis::config::load(self.config.files.iter().map(|(p, t)| (p.as_str(), t.as_str())))
            .map_err(|e| anyhow::anyhow!("invalid configuration in {}:\n{e}", self.config.origin))
    }

    pub fn analyzer(&self) -> Result<Analyzer> {
        let cfg = self.county()?;
        let d = Dictionaries::from_files(&self.dicts.files)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.dicts.origin))?;
        Analyzer::new(&cfg, d).map_err(|e| anyhow::anyhow!("{}: {e}", self.dicts.origin))
    }
}
