//! `yuqing demo` end to end, as a user runs it: the binary prints `Yuqing: http://127.0.0.1:PORT/`
//! before any other loopback URL, the status page answers without a session, posts from the local
//! demo site are stored, analysed and searchable within a minute, and the probes and metrics answer.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_status_search_probes_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo-data");
    // stderr into stdout, so the order of everything the process prints can be checked.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec \"{}\" demo --data \"{}\" 2>&1", env!("CARGO_BIN_EXE_yuqing"), data.display()))
        .current_dir(dir.path())
        .env("YUQING_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("yuqing demo starts");
    let mut child = Killed(child);
    let out = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let line =
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a line within 60 s");
        if line.contains("127.0.0.1") {
            let url = line
                .strip_prefix("Yuqing: ")
                .unwrap_or_else(|| panic!("first loopback URL is not the Yuqing line: {line}"));
            assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "{url}");
            break url.to_owned();
        }
    };
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    assert_eq!(get(&client, &format!("{base}healthz")).await.0, 200);
    assert_eq!(get(&client, &format!("{base}readyz")).await.0, 200);
    let (status, page) = get(&client, &base).await;
    assert_eq!(status, 200, "the status page needs no session");
    assert!(page.contains("demo-hotline") || page.contains("12345"), "the sources are listed");

    // Posts arrive within a minute (all four demo sources are due at start).
    let html = loop {
        let (_, page) = get(&client, &base).await;
        let failing = page.contains("failing ×");
        assert!(!failing, "a demo source fails:\n{page}");
        if page.contains("坎苏镇") && page.contains("住房和城乡建设局") && page.contains("(repeats #")
        {
            break page;
        }
        assert!(Instant::now() < deadline, "no posts within a minute:\n{page}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(html.contains("人力资源和社会保障局"), "departments are shown");

    let metrics = loop {
        let (status, m) = get(&client, &format!("{base}metrics")).await;
        assert_eq!(status, 200);
        let stored: f64 = m
            .lines()
            .find(|l| l.starts_with("yuqing_posts_stored_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if stored >= 30.0 {
            break m;
        }
        assert!(Instant::now() < deadline, "posts not counted:\n{m}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for name in ["yuqing_items_fetched_total", "yuqing_analysis_seconds_bucket", "yuqing_duplicates_total"] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }

    // The index follows the store every 2 s.
    loop {
        let (status, page) = get(&client, &format!("{base}search?q=%E6%9A%96%E6%B0%94")).await;
        assert_eq!(status, 200);
        if page.contains("<b>暖气</b>") {
            break;
        }
        assert!(Instant::now() < deadline, "search finds nothing:\n{page}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(child);
    assert!(data.join(".yuqing-demo").exists(), "the data folder is marked as the demo's");
}
