//! Turning fetched bytes into text: the charset is taken from, in order, an explicit override, a
//! byte-order mark, the bytes' own validity as UTF-8, the HTTP header, `<meta>` / the XML prolog, and
//! finally statistical detection (chardetng). Declarations are checked against the bytes rather than
//! believed: a page that declares gb2312 but is UTF-8, or declares (or defaults to) UTF-8 but is GBK,
//! decodes right. A page mixing a UTF-8 wrapper with a legacy-encoded article is decoded run by run.
//!
//! No IO; never panics on any input.

use std::sync::LazyLock;

use encoding_rs::{Encoding, GB18030, UTF_8, UTF_16BE, UTF_16LE};
use regex::bytes::Regex;
use serde::Serialize;

/// What kind of document the bytes are; decides which in-document declarations are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Html,
    Xml,
    Json,
}

/// Where the charset that was used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CharsetSource {
    /// Given by the operator (`--encoding`, a source's `encoding`).
    Override,
    Bom,
    /// The HTTP `Content-Type` charset, confirmed by the bytes.
    HttpHeader,
    /// `<meta charset>` / `<meta http-equiv>`, confirmed by the bytes.
    Meta,
    XmlProlog,
    /// The bytes are valid UTF-8 (whatever was declared).
    Utf8Valid,
    /// Statistical detection.
    Detected,
    /// UTF-8 runs and legacy-encoded runs decoded separately.
    Mixed,
    /// Pure ASCII with nothing declared.
    Default,
}

#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    /// The encoding's WHATWG name (`UTF-8`, `gb18030`, `Big5`, …), or `mixed:UTF-8+gb18030`.
    pub encoding: String,
    pub source: CharsetSource,
    /// What the document or the server declared, if anything (for reports).
    pub declared: Option<String>,
    /// Replacement characters had to be inserted (the bytes were not valid in the chosen charset).
    pub had_errors: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    #[error("unknown encoding label {0:?}")]
    UnknownLabel(String),
}

static META_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)<meta\b[^>]{0,512}?\bcharset\s*=\s*["']?\s*([a-z0-9_:.\-]{2,40})"#)
        .expect("static regex")
});
static XML_PROLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)\A\s*<\?xml\b[^>]{0,200}?\bencoding\s*=\s*["']([a-z0-9_:.\-]{2,40})["']"#)
        .expect("static regex")
});
static XML_PROLOG_ANY: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r#"(?i)\A(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*["'][^"']*["']"#).expect("static regex")
});

/// The charset parameter of a `Content-Type` header value.
pub fn charset_from_content_type(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then(|| v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

/// The label declared inside the document (`<meta>` for HTML, the prolog for XML; HTML is also
/// checked for a prolog, XHTML has one).
pub fn declared_in_document(bytes: &[u8], kind: DocKind) -> Option<(String, CharsetSource)> {
    let head = &bytes[..bytes.len().min(1 << 20)];
    if let Some(c) = XML_PROLOG.captures(head) {
        return Some((String::from_utf8_lossy(&c[1]).into_owned(), CharsetSource::XmlProlog));
    }
    if kind == DocKind::Html
        && let Some(c) = META_CHARSET.captures(head)
    {
        return Some((String::from_utf8_lossy(&c[1]).into_owned(), CharsetSource::Meta));
    }
    None
}

fn label(l: &str) -> Option<&'static Encoding> {
    let e = Encoding::for_label(l.trim().as_bytes())?;
    // GB2312 and GBK pages routinely contain GB18030-only characters; its decoder is a superset.
    Some(if e == encoding_rs::GBK { GB18030 } else { e })
}

/// Decodes `bytes`. `http_charset` is the header's charset parameter; `tld` (e.g. `b"cn"`) helps
/// detection; `override_label` wins over everything.
pub fn decode(
    bytes: &[u8],
    kind: DocKind,
    http_charset: Option<&str>,
    override_label: Option<&str>,
    tld: Option<&[u8]>,
) -> Result<Decoded, EncodingError> {
    let http = http_charset.filter(|s| !s.trim().is_empty());
    let in_doc = if kind == DocKind::Json { None } else { declared_in_document(bytes, kind) };
    let declared_text = http.map(str::to_owned).or_else(|| in_doc.as_ref().map(|d| d.0.clone()));

    if let Some(l) = override_label {
        let enc = label(l).ok_or_else(|| EncodingError::UnknownLabel(l.to_owned()))?;
        let (text, had_errors) = decode_with(enc, strip_bom_for(enc, bytes));
        return Ok(done(text, enc.name(), CharsetSource::Override, declared_text, had_errors));
    }
    if let Some(d) = decode_utf32_bom(bytes) {
        return Ok(done(d, "UTF-32", CharsetSource::Bom, declared_text, false));
    }
    if let Some((enc, len)) = Encoding::for_bom(bytes) {
        let (text, had_errors) = decode_with(enc, &bytes[len..]);
        return Ok(done(text, enc.name(), CharsetSource::Bom, declared_text, had_errors));
    }
    if let Some(enc) = utf16_without_bom(bytes) {
        let (text, had_errors) = decode_with(enc, bytes);
        return Ok(done(text, enc.name(), CharsetSource::Detected, declared_text, had_errors));
    }

    let declared: Option<(&'static Encoding, CharsetSource)> = http
        .and_then(|l| label(l).map(|e| (e, CharsetSource::HttpHeader)))
        .or_else(|| in_doc.as_ref().and_then(|(l, s)| label(l).map(|e| (e, *s))))
        // A document cannot declare itself UTF-16 in ASCII bytes; browsers read that as UTF-8.
        .map(|(e, s)| if e == UTF_16LE || e == UTF_16BE { (UTF_8, s) } else { (e, s) });

    let ascii = bytes.is_ascii();
    if std::str::from_utf8(bytes).is_ok() {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let source = match declared {
            Some((e, s)) if e == UTF_8 => s,
            Some((e, s)) if ascii && e.is_ascii_compatible() => s,
            _ if ascii => CharsetSource::Default,
            _ => CharsetSource::Utf8Valid,
        };
        let name = match declared {
            Some((e, _)) if ascii && e.is_ascii_compatible() => e.name(),
            _ => UTF_8.name(),
        };
        return Ok(done(text, name, source, declared_text, false));
    }

    // Not UTF-8 as a whole. A page may still hold UTF-8 runs next to legacy-encoded ones.
    let legacy = match declared {
        Some((e, _)) if e != UTF_8 && e.is_ascii_compatible() => Some(e),
        _ => None,
    };
    let runs = RunStats::of(bytes);
    if runs.is_mixed() {
        let other = legacy.unwrap_or_else(|| detect(&runs.invalid_bytes(bytes), tld));
        let other = if other == UTF_8 { GB18030 } else { other };
        let (text, had_errors) = decode_mixed(bytes, other);
        let name = format!("mixed:UTF-8+{}", other.name());
        return Ok(Decoded {
            text,
            encoding: name,
            source: CharsetSource::Mixed,
            declared: declared_text,
            had_errors,
        });
    }
    if let Some((enc, source)) = declared.filter(|(e, _)| *e != UTF_8) {
        // A single-byte charset decodes any bytes without error, so it proves nothing: an old
        // server default (`charset=ISO-8859-1`) in front of a GBK page. When the document's own
        // declaration or detection finds a multi-byte encoding that fits the bytes, it wins.
        if is_single_byte(enc) {
            let in_doc_enc = in_doc.as_ref().and_then(|(l, s)| label(l).map(|e| (e, *s)));
            for (cand, cand_source) in
                in_doc_enc.into_iter().chain(std::iter::once((detect(bytes, tld), CharsetSource::Detected)))
            {
                if !is_single_byte(cand) && cand != UTF_8 && cand.is_ascii_compatible() {
                    let (t, e) = decode_with(cand, bytes);
                    if !e {
                        return Ok(done(t, cand.name(), cand_source, declared_text, false));
                    }
                }
            }
        }
        let (text, had_errors) = decode_with(enc, bytes);
        if !had_errors || replacement_share(&text) < 0.001 {
            return Ok(done(text, enc.name(), source, declared_text, had_errors));
        }
        // The declaration does not fit the bytes: let detection choose, keep the better result.
        let guess = detect(bytes, tld);
        if guess != enc {
            let (t2, e2) = decode_with(guess, bytes);
            if replacement_share(&t2) < replacement_share(&text) {
                return Ok(done(t2, guess.name(), CharsetSource::Detected, declared_text, e2));
            }
        }
        return Ok(done(text, enc.name(), source, declared_text, had_errors));
    }
    let guess = detect(bytes, tld);
    let (text, had_errors) = decode_with(guess, bytes);
    Ok(done(text, guess.name(), CharsetSource::Detected, declared_text, had_errors))
}

fn done(
    text: String,
    name: &str,
    source: CharsetSource,
    declared: Option<String>,
    had_errors: bool,
) -> Decoded {
    Decoded { text, encoding: name.to_owned(), source, declared, had_errors }
}

fn strip_bom_for<'a>(enc: &'static Encoding, bytes: &'a [u8]) -> &'a [u8] {
    match Encoding::for_bom(bytes) {
        Some((e, len)) if e == enc => &bytes[len..],
        _ => bytes,
    }
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> (String, bool) {
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    (text.into_owned(), had_errors)
}

fn is_single_byte(e: &'static Encoding) -> bool {
    e.is_single_byte()
}

fn replacement_share(text: &str) -> f64 {
    let n = text.chars().count().max(1);
    text.chars().filter(|&c| c == '\u{FFFD}').count() as f64 / n as f64
}

fn detect(bytes: &[u8], tld: Option<&[u8]>) -> &'static Encoding {
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(bytes, true);
    let e = det.guess(tld, chardetng::Utf8Detection::Allow);
    if e == encoding_rs::GBK { GB18030 } else { e }
}

/// UTF-32 (which encoding_rs does not decode): by BOM, or by the `<` of an XML document.
fn decode_utf32_bom(bytes: &[u8]) -> Option<String> {
    let (be, skip) = match bytes {
        [0, 0, 0xFE, 0xFF, ..] => (true, 4),
        [0xFF, 0xFE, 0, 0, ..] => (false, 4),
        [0, 0, 0, b'<', ..] => (true, 0),
        [b'<', 0, 0, 0, ..] => (false, 0),
        _ => return None,
    };
    let body = &bytes[skip..];
    let mut out = String::with_capacity(body.len() / 4);
    for ch in body.chunks(4) {
        let arr: [u8; 4] = match ch.try_into() {
            Ok(a) => a,
            Err(_) => {
                out.push('\u{FFFD}');
                break;
            }
        };
        let v = if be { u32::from_be_bytes(arr) } else { u32::from_le_bytes(arr) };
        out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
    }
    Some(out)
}

fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    match bytes {
        [b'<', 0, b'?', 0, ..] | [b'<', 0, b'r', 0, ..] | [b'<', 0, b'f', 0, ..] => Some(UTF_16LE),
        [0, b'<', 0, b'?', ..] | [0, b'<', 0, b'r', ..] | [0, b'<', 0, b'f', ..] => Some(UTF_16BE),
        _ => None,
    }
}

/// Non-ASCII runs (bytes between ASCII bytes), split into those that are valid UTF-8 holding at
/// least two multi-byte characters and those that are not UTF-8.
struct RunStats {
    utf8_bytes: usize,
    invalid_bytes: usize,
    invalid_runs: Vec<(usize, usize)>,
}

fn non_ascii_runs(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && bytes[i].is_ascii() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii() {
            i += 1;
        }
        Some((start, i))
    })
}

impl RunStats {
    fn of(bytes: &[u8]) -> Self {
        let mut s = RunStats { utf8_bytes: 0, invalid_bytes: 0, invalid_runs: Vec::new() };
        for (a, b) in non_ascii_runs(bytes) {
            let run = &bytes[a..b];
            if std::str::from_utf8(run).is_ok() {
                if run.len() >= 6 {
                    s.utf8_bytes += run.len();
                }
            } else {
                s.invalid_bytes += run.len();
                s.invalid_runs.push((a, b));
            }
        }
        s
    }

    /// Both kinds are substantial: at least 24 bytes (8 CJK characters) of UTF-8 runs and of
    /// non-UTF-8 runs, the UTF-8 share at least 5% of the non-ASCII bytes.
    fn is_mixed(&self) -> bool {
        let total = self.utf8_bytes + self.invalid_bytes;
        self.utf8_bytes >= 24 && self.invalid_bytes >= 24 && self.utf8_bytes * 20 >= total
    }

    fn invalid_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.invalid_bytes + self.invalid_runs.len());
        for &(a, b) in &self.invalid_runs {
            out.extend_from_slice(&bytes[a..b]);
            out.push(b' ');
        }
        out
    }
}

/// Decodes UTF-8-valid non-ASCII runs as UTF-8 and the others with `other`.
fn decode_mixed(bytes: &[u8], other: &'static Encoding) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len());
    let mut had_errors = false;
    let mut last = 0;
    for (a, b) in non_ascii_runs(bytes) {
        out.push_str(&String::from_utf8_lossy(&bytes[last..a]));
        let run = &bytes[a..b];
        match std::str::from_utf8(run) {
            Ok(s) if run.len() >= 6 || other == UTF_8 => out.push_str(s),
            _ => {
                let (t, e) = other.decode_without_bom_handling(run);
                // A short run that is valid UTF-8 but not valid in `other` stays UTF-8.
                if e && let Ok(s) = std::str::from_utf8(run) {
                    out.push_str(s);
                } else {
                    had_errors |= e;
                    out.push_str(&t);
                }
            }
        }
        last = b;
    }
    out.push_str(&String::from_utf8_lossy(&bytes[last..]));
    (out, had_errors)
}

/// Rewrites (or inserts nothing into) an XML prolog so that it declares UTF-8: after decoding, the
/// text is UTF-8 whatever the prolog said, and an XML parser must not transcode it again.
pub fn rewrite_xml_prolog_utf8(text: &str) -> std::borrow::Cow<'_, str> {
    XML_PROLOG_ANY.replace(text, "${1} encoding=\"utf-8\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(s: &str) -> Vec<u8> {
        GB18030.encode(s).0.into_owned()
    }

    #[test]
    fn declared_gb2312_but_utf8_bytes() {
        let page = "<html><head><meta charset=\"gb2312\"><title>新源县人民政府</title></head></html>";
        let d = decode(page.as_bytes(), DocKind::Html, None, None, None).unwrap();
        assert_eq!(d.encoding, "UTF-8");
        assert_eq!(d.source, CharsetSource::Utf8Valid);
        assert!(d.text.contains("新源县人民政府"));
        assert_eq!(d.declared.as_deref(), Some("gb2312"));
    }

    #[test]
    fn declared_utf8_but_gbk_bytes() {
        let mut page = b"<html><head><meta charset=\"utf-8\"><title>".to_vec();
        page.extend(gbk("新源县那拉提镇召开牧民定居工作推进会，会议要求各村抓好落实"));
        page.extend(b"</title></head></html>");
        let d = decode(&page, DocKind::Html, Some("utf-8"), None, Some(b"cn")).unwrap();
        assert_eq!(d.encoding, "gb18030");
        assert_eq!(d.source, CharsetSource::Detected);
        assert!(d.text.contains("那拉提镇"), "{}", d.text);
        assert!(!d.text.contains('\u{FFFD}'));
    }

    #[test]
    fn meta_after_script_charset_attribute() {
        let mut page = b"<html><head><script charset=\"utf-8\" src=\"a.js\"></script>".to_vec();
        page.extend(b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">");
        page.extend(gbk("<title>关于印发新源县政务公开工作实施方案的通知</title>"));
        let d = decode(&page, DocKind::Html, None, None, None).unwrap();
        assert_eq!(d.encoding, "gb18030");
        assert_eq!(d.source, CharsetSource::Meta);
        assert!(d.text.contains("政务公开"));
    }

    #[test]
    fn mixed_utf8_wrapper_around_gb2312_article() {
        let mut page =
            "<html><head><script charset=\"utf-8\"></script><title>网页快照存档 新源县人民政府网站</title>"
                .as_bytes()
                .to_vec();
        page.extend(b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">");
        page.extend(gbk("<p>新源县人民政府办公室关于做好二〇一七年政务公开工作的通知，各乡镇人民政府。</p>"));
        page.extend("<div>存档服务由本站提供，仅供参考</div></html>".as_bytes());
        let d = decode(&page, DocKind::Html, None, None, None).unwrap();
        assert_eq!(d.source, CharsetSource::Mixed);
        assert!(d.text.contains("网页快照存档"), "{}", d.text);
        assert!(d.text.contains("二〇一七年政务公开"), "{}", d.text);
        assert!(d.text.contains("存档服务由本站提供"), "{}", d.text);
        assert!(!d.text.contains('\u{FFFD}'));
    }

    #[test]
    fn http_header_overrides_xml_prolog_and_prolog_is_rewritten() {
        let mut feed = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss><channel><title>".to_vec();
        feed.extend(gbk("新源县新闻"));
        feed.extend(b"</title></channel></rss>");
        let d = decode(&feed, DocKind::Xml, Some("gbk"), None, None).unwrap();
        assert_eq!(d.source, CharsetSource::HttpHeader);
        assert!(d.text.contains("新源县新闻"));
        let rewritten = rewrite_xml_prolog_utf8(&d.text);
        assert!(rewritten.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"), "{rewritten}");
    }

    #[test]
    fn boms_and_utf16_and_override() {
        let mut b = vec![0xEF, 0xBB, 0xBF];
        b.extend("新源".as_bytes());
        let d = decode(&b, DocKind::Html, Some("gbk"), None, None).unwrap();
        assert_eq!((d.text.as_str(), d.source), ("新源", CharsetSource::Bom));
        let u16: Vec<u8> =
            "<?xml version=\"1.0\"?><a>新源</a>".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let d = decode(&u16, DocKind::Xml, None, None, None).unwrap();
        assert!(d.text.contains("新源"));
        let mut u32 = vec![0, 0, 0xFE, 0xFF];
        u32.extend("新".chars().flat_map(|c| (c as u32).to_be_bytes()));
        assert_eq!(decode(&u32, DocKind::Xml, None, None, None).unwrap().text, "新");
        let d = decode(&gbk("新源县"), DocKind::Html, None, Some("gbk"), None).unwrap();
        assert_eq!((d.text.as_str(), d.source), ("新源县", CharsetSource::Override));
        assert!(decode(b"x", DocKind::Html, None, Some("klingon"), None).is_err());
    }

    #[test]
    fn single_byte_server_default_in_front_of_a_gbk_page() {
        let mut page = b"<html><head><meta charset=\"gb2312\"><title>".to_vec();
        page.extend(gbk("新源县人民政府关于冬季供暖工作的通知"));
        page.extend(b"</title></head></html>");
        let d = decode(&page, DocKind::Html, Some("ISO-8859-1"), None, Some(b"cn")).unwrap();
        assert_eq!(d.encoding, "gb18030");
        assert_eq!(d.source, CharsetSource::Meta);
        assert!(d.text.contains("冬季供暖"));
        // A real Latin-1 page stays Latin-1.
        let latin =
            b"<html><head><title>Caf\xe9 cr\xe8me br\xfbl\xe9e \xe0 la fran\xe7aise</title></head></html>";
        let d = decode(latin, DocKind::Html, Some("ISO-8859-1"), None, None).unwrap();
        assert_eq!(d.encoding, "windows-1252");
        assert!(d.text.contains("Café crème"));
    }

    #[test]
    fn content_type_charset() {
        assert_eq!(charset_from_content_type("text/html; charset=\"GBK\"").as_deref(), Some("GBK"));
        assert_eq!(charset_from_content_type("text/html"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            for kind in [DocKind::Html, DocKind::Xml, DocKind::Json] {
                let _ = decode(&bytes, kind, Some("gb2312"), None, Some(b"cn"));
                let _ = decode(&bytes, kind, None, None, None);
            }
        }
    }
}
