//! Every example source in `config/sources/` polls its fixture (served on 127.0.0.1 with the
//! source's host replaced) and yields what `expect.toml` says: the configuration really reads the
//! pages it was written for.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use serde::Deserialize;
use yuqing_core::{Cursor, Source};
use yuqing_sources::config::KindConfig;
use yuqing_sources::fetch::{FetchDefaults, Politeness};
use yuqing_sources::{ConfiguredSource, config};
use yuqing_testkit::{FixtureServer, Reply};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Deserialize)]
struct Routes {
    route: Vec<Route>,
}

#[derive(Deserialize)]
struct Route {
    path: String,
    file: String,
    content_type: String,
}

#[derive(Deserialize)]
struct Expect {
    items: usize,
    #[serde(default)]
    titles: Vec<String>,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    policy_documents: bool,
    expand_path: Option<String>,
}

/// `scheme://host[:port]/rest` → `base/rest` (templates with `{…}` stay intact).
fn rehost(url: &str, base: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = url[after_scheme..].find('/').map(|i| after_scheme + i).unwrap_or(url.len());
    format!("{base}{}", &url[path_start..])
}

#[tokio::test]
async fn every_example_source_reads_its_fixture() {
    let files = config::read_files(&root().join("config/sources")).unwrap();
    let cfg = config::parse(&files).unwrap_or_else(|e| panic!("{e:#?}"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sources");
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    let mut checked = 0;
    for mut source in cfg.sources {
        let id = source.common.id.clone();
        let dir = fixtures.join(&id);
        assert!(dir.is_dir(), "source {id} has no fixture folder");
        let routes: Routes =
            toml::from_str(&std::fs::read_to_string(dir.join("routes.toml")).unwrap()).unwrap();
        let expect: Expect =
            toml::from_str(&std::fs::read_to_string(dir.join("expect.toml")).unwrap()).unwrap();
        let server = FixtureServer::start().await;
        for r in &routes.route {
            let body = std::fs::read(dir.join(&r.file)).unwrap_or_else(|e| panic!("{id}: {}: {e}", r.file));
            server.route(&r.path, Reply::ok(&r.content_type, body));
        }
        let base = format!("http://{}", server.addr);
        source.common.fetch.allow_private_addresses = true;
        match &mut source.kind {
            KindConfig::Feed(f) => f.url = rehost(&f.url, &base),
            KindConfig::Html(h) => {
                h.list_url = rehost(&h.list_url, &base);
                h.page_template = h.page_template.as_ref().map(|t| rehost(t, &base));
            }
            KindConfig::JsonApi(j) => {
                j.url = rehost(&j.url, &base);
                let mut m = j.effective_mapping().unwrap();
                if let Some(e) = &mut m.expand {
                    e.url = rehost(&e.url, &base);
                }
                j.mapping = Some(m);
            }
        }
        let defaults =
            FetchDefaults { per_host_requests_per_sec: 1000.0, per_host_concurrency: 8, ..cfg.fetch.clone() };
        let src = ConfiguredSource::new(source, Politeness::new(defaults).unwrap()).unwrap();
        let poll = src.poll(Cursor::default(), now).await.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            poll.items.len(),
            expect.items,
            "{id}: items {:#?}\nissues {:#?}",
            poll.items.iter().map(|i| &i.title).collect::<Vec<_>>(),
            poll.issues
        );
        let titles: Vec<&str> = poll.items.iter().map(|i| i.title.as_str()).collect();
        for t in &expect.titles {
            assert!(titles.contains(&t.as_str()), "{id}: title {t:?} not among {titles:?}");
        }
        for c in &expect.contains {
            assert!(poll.items.iter().any(|i| i.body.contains(c.as_str())), "{id}: no body contains {c:?}");
        }
        for item in &poll.items {
            assert_eq!(item.policy_document, expect.policy_documents, "{id}");
            assert!(
                !item.body.contains('\u{FFFD}') && !item.title.contains('\u{FFFD}'),
                "{id}: replacement characters"
            );
            assert!(!item.body.trim().is_empty() || !item.title.trim().is_empty(), "{id}: empty item");
            assert_eq!(item.raw_sha256.len(), 64);
            let json = serde_json::to_string(item).unwrap();
            for absent in ["followers", "gender", "description", "verified_reason", "profile_image"] {
                assert!(!json.contains(absent), "{id}: {absent} kept: {json}");
            }
        }
        if let Some(p) = &expect.expand_path {
            assert_eq!(server.hits(p), 1, "{id}: the long text was fetched");
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} sources checked");
}
