//! Every legacy-encoded page and feed of the corpus (copied into `fixtures/legacy`, provenance
//! beside them) decodes with no U+FFFD, yields at least 10 CJK characters and, where the index gives
//! one, the expected title.

use std::path::Path;

use chrono::{TimeZone, Utc};
use yuqing_sources::encoding::{self, DocKind};
use yuqing_sources::extract;
use yuqing_sources::kinds::feed::parse_feed;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy")
}

fn cjk(s: &str) -> usize {
    s.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count()
}

#[test]
fn legacy_pages_decode_and_extract() {
    // (file, expected title from the corpus index, expected encoding)
    let pages = [
        ("html_4_gb2312.html", Some("腾讯首页"), "gb18030"),
        ("_mozilla_bug171813_text.html", None, "gb18030"),
    ];
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    for (file, title, enc) in pages {
        let bytes = std::fs::read(fixtures().join("html").join(file)).unwrap();
        let d = encoding::decode(&bytes, DocKind::Html, None, None, None).unwrap();
        assert_eq!(d.encoding, enc, "{file}");
        assert!(!d.text.contains('\u{FFFD}'), "{file}: replacement characters");
        assert!(cjk(&d.text) >= 10, "{file}: only {} CJK characters", cjk(&d.text));
        let doc = scraper::Html::parse_document(&d.text);
        let x = extract::extract(&doc, None, now, chrono_tz::Asia::Shanghai);
        assert!(!x.body.is_empty(), "{file}: empty body");
        assert!(!x.body.contains('\u{FFFD}') && !x.title.contains('\u{FFFD}'));
        if let Some(t) = title {
            assert_eq!(x.title, t, "{file}");
        }
    }
}

#[test]
fn legacy_feeds_decode_and_parse() {
    let dir = fixtures().join("feeds");
    let mut n = 0;
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        let expect =
            head.lines().find_map(|l| l.strip_prefix("Expect: ")).unwrap().trim().to_ascii_lowercase();
        let parsed = parse_feed(&bytes, None, None, None, now, chrono_tz::Asia::Shanghai)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let family = if expect.starts_with("big5") { "Big5" } else { "gb18030" };
        assert_eq!(parsed.encoding, family, "{name}");
        assert!(!parsed.entries.is_empty(), "{name}: no entries ({:?})", parsed.issues);
        let text: String = parsed.entries.iter().map(|e| format!("{}\n{}\n", e.title, e.body)).collect();
        assert!(!text.contains('\u{FFFD}'), "{name}: replacement characters");
        assert!(cjk(&text) >= 10, "{name}: only {} CJK characters", cjk(&text));
        n += 1;
    }
    assert_eq!(n, 21, "all 21 legacy feeds were checked");
}
