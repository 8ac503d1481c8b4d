//! End-to-end tests of `yuqing extract`, `yuqing crawl --once` and `yuqing eval extract` against
//! files and a fixture HTTP server on 127.0.0.1 (nothing here touches the internet).

mod common;

use common::{root, text, yuqing};

use yuqing_testkit::{FixtureServer, Reply};

const PAGE: &str = "<html><head><meta charset=gb2312><title>新源县开展冬季供暖专项检查_新源县人民政府</title></head><body>\
<div class=nav><a href=/>首页</a></div><h1>新源县开展冬季供暖专项检查</h1><p>发布时间：2026-11-20 10:30</p>\
<div class=content><p>近日，新源县住建局对全县供热企业开展专项检查，督促企业落实供热保障责任。</p>\
<p>检查组要求，对群众反映的暖气不热问题要做到24小时内响应、48小时内办结。</p></div></body></html>";

#[test]
fn extract_reads_any_local_file_as_html() {
    let dir = tempfile::tempdir().unwrap();
    // GBK bytes, a misleading extension, and no extension at all.
    let bytes = encoding_rs::GB18030.encode(PAGE).0.into_owned();
    for name in ["page.html.xml", "page"] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let out = yuqing(&["extract", p.to_str().unwrap()], None, dir.path());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["title"], "新源县开展冬季供暖专项检查");
        assert!(v["body"].as_str().unwrap().contains("24小时内响应"), "{v}");
        assert_eq!(v["encoding"], "gb18030");
        assert_eq!(v["charset_source"], "meta");
        assert_eq!(v["article"], true);
        assert_eq!(v["published_at"], "2026-11-20T02:30:00Z");
    }
    let out = yuqing(&["extract", "/no/such/file"], None, dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /no/such/file"));
}

fn serve<F: FnOnce(&FixtureServer)>(setup: F) -> (tokio::runtime::Runtime, FixtureServer) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let s = rt.block_on(FixtureServer::start());
    setup(&s);
    (rt, s)
}

#[test]
fn extract_fetches_a_url_and_refuses_private_addresses_unless_allowed() {
    let (_rt, s) = serve(|s| {
        s.route(
            "/a.html",
            Reply::ok("text/html; charset=gbk", encoding_rs::GB18030.encode(PAGE).0.into_owned()),
        );
    });
    let url = s.url("/a.html");
    let out = yuqing(&["extract", &url], None, &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("loopback"), "{}", text(&out.stderr));
    let out = yuqing(&["extract", &url, "--allow-private"], None, &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["charset_source"], "http-header");
    assert_eq!(v["raw_sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn crawl_once_pipes_into_analyze_and_keeps_state() {
    let rss = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>新源县小区暖气不热，住户投诉多日无人管</title><link>http://news.example/1.html</link>
<description>新源县某小区暖气片冰凉，物业推诿，住建局能否督促供热公司尽快解决？</description></item>
<item><title>那拉提镇牧民定居点道路结冰</title><link>http://news.example/2.html</link></item>
</channel></rss>"#;
    let (_rt, s) = serve(|s| {
        s.route("/rss.xml", Reply::ok("application/rss+xml", rss));
        s.route("/broken.xml", Reply::ok("application/rss+xml", "<html>not a feed</html>"));
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sources.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[fetch]
per_host_requests_per_sec = 50.0

[[source]]
id = "news"
name = "新闻"
type = "feed"
url = "{}"
schedule = {{ every_secs = 600 }}
fetch = {{ allow_private_addresses = true }}

[[source]]
id = "broken"
name = "坏源"
type = "feed"
url = "{}"
schedule = {{ every_secs = 600 }}
fetch = {{ allow_private_addresses = true }}
"#,
            s.url("/rss.xml"),
            s.url("/broken.xml")
        ),
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let args = ["crawl", "--config", cfg.to_str().unwrap(), "--once", "--state", state.to_str().unwrap()];
    let out = yuqing(&args, None, dir.path());
    assert_eq!(out.status.code(), Some(1), "one source failed: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("news: 2 new items") && stderr.contains("broken: failed: permanent"), "{stderr}");
    let items = text(&out.stdout);
    assert_eq!(items.lines().count(), 2);

    // crawl | analyze
    let analysed = yuqing(&["analyze", "-"], Some(&items), &root());
    assert!(analysed.status.success(), "{}", text(&analysed.stderr));
    let first: serde_json::Value =
        serde_json::from_str(text(&analysed.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "http://news.example/1.html");
    assert!(first["departments"].as_array().is_some_and(|d| !d.is_empty()), "{first}");

    // The state file keeps cursors and health: nothing new the second time.
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["broken"]["health"]["consecutive_failures"], 1);
    assert!(st["news"]["next_due_at"].is_string());
    let again = yuqing(
        &[
            "crawl",
            "--config",
            cfg.to_str().unwrap(),
            "--once",
            "--state",
            state.to_str().unwrap(),
            "--source",
            "news",
        ],
        None,
        dir.path(),
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout).lines().count(), 0);
}

#[test]
fn crawl_refuses_bad_config_and_missing_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.toml");
    std::fs::write(&cfg, "[[source]]\nid = \"x\"\nname = \"x\"\ntype = \"feed\"\nurl = \"http://a.example/\"\nschedule = { every_secs = 600 }\nfetch_article = true\n").unwrap();
    let out = yuqing(&["crawl", "--config", cfg.to_str().unwrap(), "--once"], None, dir.path());
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains("s.toml: source \"x\"") && e.contains("unknown field `fetch_article`"), "{e}");
    let out = yuqing(&["crawl", "--config", cfg.to_str().unwrap()], None, dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--once"));
}

#[test]
fn shipped_sources_configuration_parses() {
    let files = yuqing_sources::config::read_files(&root().join("config/sources")).unwrap();
    assert!(!files.is_empty());
    let cfg = yuqing_sources::config::parse(&files).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(cfg.sources.len() >= 8, "{} sources", cfg.sources.len());
}

#[test]
fn run_once_stores_posts_and_a_second_round_adds_nothing() {
    let rss = r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>新源县小区暖气不热</title><link>http://news.example/1.html</link><description>暖气片冰凉，物业推诿。</description></item>
<item><title>那拉提镇道路结冰</title><link>http://news.example/2.html</link><description>出行困难。</description></item>
</channel></rss>"#;
    let (_rt, s) = serve(|s| {
        s.route("/rss.xml", Reply::ok("application/rss+xml", rss));
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    for (rel, text) in yuqing_testkit::read_tree(&root().join("config"), "toml").unwrap() {
        if rel.starts_with("sources/") {
            continue;
        }
        let p = cfg.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(cfg.join("sources")).unwrap();
    std::fs::write(
        cfg.join("sources/test.toml"),
        format!(
            "[[source]]\nid = \"news\"\nname = \"新闻\"\ntype = \"feed\"\nurl = \"{}\"\nschedule = {{ every_secs = 600 }}\nfetch = {{ allow_private_addresses = true }}\n",
            s.url("/rss.xml")
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["--config", cfg.to_str().unwrap(), "run", "--once", "--data", data.to_str().unwrap()];
    let out = yuqing(&args, None, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 sources claimed, 1 polled, 0 failed; 2 new posts"),
        "{}",
        text(&out.stderr)
    );
    assert!(data.join("yuqing.db").exists());
    // Not due again yet: the next round claims nothing and stores nothing.
    let out = yuqing(&args, None, dir.path());
    assert!(text(&out.stderr).contains("0 sources claimed"), "{}", text(&out.stderr));
    // What the round stored is searchable: the index followed the store.
    let out = yuqing(
        &["--config", cfg.to_str().unwrap(), "search", "暖气不热", "--data", data.to_str().unwrap()],
        None,
        dir.path(),
    );
    assert!(text(&out.stdout).contains("新源县小区暖气不热"), "{}{}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn import_json_lines_and_csv_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = yuqing(&["import", "crates/app/tests/fixtures/posts.jsonl", "--data", d], None, &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("26 records read (0 bad), 26 new posts"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("26 posts added to the search index"), "{}", text(&out.stderr));
    let out = yuqing(&["import", "crates/app/tests/fixtures/posts.jsonl", "--data", d], None, &root());
    assert!(
        text(&out.stderr).contains("0 new posts, 0 copies, 0 near-duplicates, 26 already stored"),
        "{}",
        text(&out.stderr)
    );
    let csv = dir.path().join("hotline.csv");
    std::fs::write(&csv, "id,title,body,published_at\nh1,小区停水,那拉提镇停水三天,2026-11-20T10:00:00+08:00\nh2,,,\nh3,路灯,路灯不亮,yesterday\n").unwrap();
    let out = yuqing(&["import", csv.to_str().unwrap(), "--data", d], None, &root());
    assert_eq!(out.status.code(), Some(1), "bad lines make the exit code 1");
    let e = text(&out.stderr);
    assert!(e.contains("line 3: no title and no body") && e.contains("line 4: published_at"), "{e}");
    assert!(e.contains("3 records read (2 bad), 1 new posts"), "{e}");
}

#[test]
fn reindex_and_search_stored_posts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let out = yuqing(&["search", "暖气", "--data", d], None, &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("run `yuqing reindex`"), "{}", text(&out.stderr));
    assert!(
        yuqing(&["import", "crates/app/tests/fixtures/posts.jsonl", "--data", d], None, &root())
            .status
            .success()
    );
    let out = yuqing(&["reindex", "--data", d], None, &root());
    assert!(text(&out.stderr).contains("26 posts indexed"), "{}", text(&out.stderr));
    // An unspaced Chinese query finds the heating complaint, with its words highlighted.
    let out = yuqing(&["search", "暖气不热供热公司", "--data", d], None, &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hits: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0]["title"].as_str().unwrap().contains("暖气不热"));
    assert!(hits[0]["snippet"].as_str().unwrap().contains("<b>"), "{hits:?}");
}

#[test]
fn check_config_covers_county_and_sources() {
    let out = yuqing(&["check-config"], None, &root());
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("8 sources"), "{}", text(&out.stdout));
    // A copy of the configuration with a broken sources file.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    for (rel, body) in yuqing_testkit::read_tree(&root().join("config"), "toml").unwrap() {
        let p = cfg.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    std::fs::write(
        cfg.join("sources/broken.toml"),
        "[[source]]\nid = \"x\"\nname = \"x\"\ntype = \"rss\"\nschedule = { every_secs = 600 }\n",
    )
    .unwrap();
    let out = yuqing(&["--config", cfg.to_str().unwrap(), "check-config"], None, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let o = text(&out.stdout);
    assert!(o.contains("broken.toml: source \"x\"") && o.contains("unknown variant `rss`"), "{o}");
}

#[test]
fn tokens_are_shown_once_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    let d = d.to_str().unwrap();
    let out = yuqing(&["token", "add", "--name", "12345热线", "--data", d], None, &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.starts_with("yq_") && token.len() == 67, "{token}");
    let list = text(&yuqing(&["token", "list", "--data", d], None, &root()).stdout);
    assert!(list.contains("12345热线") && !list.contains(&token), "{list}");
    assert!(yuqing(&["token", "revoke", "1", "--data", d], None, &root()).status.success());
    let again = yuqing(&["token", "revoke", "1", "--data", d], None, &root());
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&yuqing(&["token", "list", "--data", d], None, &root()).stdout).trim().is_empty());
    let bad = yuqing(&["token", "add", "--name", "x", "--scope", "admin", "--data", d], None, &root());
    assert_eq!(bad.status.code(), Some(2));
}
