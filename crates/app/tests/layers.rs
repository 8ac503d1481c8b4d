//! The layering of ARCHITECTURE.md, checked from each crate's manifest: a crate may depend only on
//! crates of lower layers, and only the binary may use `anyhow`.

use std::path::Path;

/// (crate folder, layer)
/// `testkit` is test support: no crate may list it under `[dependencies]`.
const LAYERS: &[(&str, u32)] = &[
    ("domain", 0),
    ("text", 1),
    ("analysis", 1),
    ("routing", 1),
    ("events", 1),
    ("cases", 1),
    ("core", 2),
    ("sources", 3),
    ("store", 3),
    ("search", 3),
    ("notify", 3),
    ("pipeline", 4),
    ("web", 4),
    ("app", 5),
    ("testkit", 9),
];

fn dependencies(manifest: &str) -> Vec<String> {
    let doc: toml::Table = toml::from_str(manifest).expect("manifest parses");
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_downwards() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let layer_of = |name: &str| LAYERS.iter().find(|(c, _)| format!("yuqing-{c}") == name).map(|l| l.1);
    let mut folders: Vec<String> = std::fs::read_dir(&crates)
        .expect("crates folder")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    for folder in &folders {
        let (_, layer) = LAYERS
            .iter()
            .find(|(c, _)| c == folder)
            .unwrap_or_else(|| panic!("crate {folder} has no layer in this test and ARCHITECTURE.md"));
        let manifest = std::fs::read_to_string(crates.join(folder).join("Cargo.toml")).expect("manifest");
        for dep in dependencies(&manifest) {
            if let Some(dep_layer) = layer_of(&dep) {
                let same_layer_ok = dep_layer < *layer
                    || (folder == "analysis" && dep == "yuqing-text")
                    || (folder == "web" && dep == "yuqing-pipeline");
                assert!(same_layer_ok, "{folder} (layer {layer}) depends on {dep} (layer {dep_layer})");
            }
            assert!(dep != "anyhow" || folder == "app", "{folder} uses anyhow; library errors are enums");
            assert!(dep != "yuqing-testkit", "{folder} depends on the test kit outside dev-dependencies");
            assert!(
                dep != "reqwest" || matches!(folder.as_str(), "sources" | "notify"),
                "{folder} uses reqwest; only sources and notify may"
            );
            assert!(
                !matches!(dep.as_str(), "lettre" | "teloxide") || folder == "notify",
                "{folder} uses {dep}; only notify may"
            );
            assert!(dep != "sqlx" || folder == "store", "{folder} uses sqlx; only store may");
            assert!(dep != "tantivy" || folder == "search", "{folder} uses tantivy; only search may");
            assert!(
                !matches!(folder.as_str(), "pipeline" | "web")
                    || !matches!(
                        dep.as_str(),
                        "yuqing-sources" | "yuqing-store" | "yuqing-search" | "yuqing-notify"
                    ),
                "{folder} names an adapter ({dep}); it works through core's traits"
            );
            assert!(dep != "jieba-rs" || folder == "text", "{folder} uses jieba-rs; only text may");
        }
    }
}
