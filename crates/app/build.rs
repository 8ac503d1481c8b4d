//! Embeds `config/`, `dictionaries/` and `demo/` into the binary, so that `yuqing` (and `yuqing demo`)
//! works from any directory.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, exts: &[&str], out: &mut Vec<(String, PathBuf)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, exts, out);
        } else if p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)) {
            println!("cargo:rerun-if-changed={}", p.display());
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
            out.push((rel, p.canonicalize().unwrap_or(p.clone())));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let top = manifest.join("../..");
    let mut code = String::new();
    let sets: [(&str, &str, &[&str]); 4] = [
        ("CONFIG", "config", &["toml"]),
        ("CALENDAR", "config/calendar", &["csv"]),
        ("DICTIONARIES", "dictionaries", &["txt"]),
        ("DEMO", "demo", &["toml", "html", "xml", "json", "txt", "md"]),
    ];
    for (name, dir, exts) in sets {
        let root = top.join(dir);
        let mut files = Vec::new();
        walk(&root, &root, exts, &mut files);
        let _ = writeln!(code, "pub static {name}: &[(&str, &str)] = &[");
        for (rel, path) in files {
            let _ = writeln!(code, "    ({rel:?}, include_str!({:?})),", path.display().to_string());
        }
        let _ = writeln!(code, "];");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
