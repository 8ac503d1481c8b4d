//! Rendering: one [`OutboundMessage`] into each channel's own format, within its length limit.
//!
//! Every rendering says what a reader needs first: `[kind label] level 预警 · department`, then the
//! title, the lines (most important first) and the link. When a rendering is too long, trailing
//! lines are dropped first (a `…（另有 N 条）` line says how many), then the title is shortened
//! with `…` on a character boundary. Before that, fields are clamped to sane sizes (department 64
//! characters, a line 500, a link 2,048 bytes or it is left out), so the header and the link always
//! fit; a final cut on a character boundary is only a guard.
//!
//! Values are escaped for their format: HTML for Telegram and e-mail; for the markdown of WeCom,
//! DingTalk and Feishu, characters that would start markup (`* [ ] < > # \` ~`) become their
//! full-width forms and line breaks become spaces, so a post's title cannot inject a link or
//! formatting. Pure functions: no IO, no clock.

use std::borrow::Cow;

use serde_json::{Value, json};
use yuqing_core::notify::OutboundMessage;

/// WeCom markdown `content`: at most 4,096 bytes of UTF-8.
pub const WECOM_MAX_BYTES: usize = 4096;
/// DingTalk markdown `text`: at most 20,000 bytes.
pub const DINGTALK_MAX_BYTES: usize = 20_000;
/// Feishu: a custom bot's request body is at most 20 KB; the card (serialised) is kept to this.
pub const FEISHU_MAX_CARD_BYTES: usize = 18_000;
/// Telegram `sendMessage` text: at most 4,096 characters (counted here with the markup, which
/// is stricter than Telegram's count after parsing).
pub const TELEGRAM_MAX_CHARS: usize = 4096;
/// E-mail parts have no hard limit; each part is kept to this.
pub const EMAIL_MAX_BYTES: usize = 128 * 1024;
/// The SMS template assumed when a channel does not copy its registered one.
pub const DEFAULT_SMS_TEMPLATE: &str = "{department}：{level}“{title}”，请及时登录舆情系统签收处置。";

const MAX_DEPARTMENT_CHARS: usize = 64;
const MAX_LINE_CHARS: usize = 500;
const MAX_LINK_BYTES: usize = 2048;

/// `红` → `红色预警`, `红色` → `红色预警`, anything else → `X预警`.
pub fn level_phrase(level: &str) -> String {
    let level = level.trim();
    if level.is_empty() {
        String::new()
    } else if level.ends_with("预警") {
        level.to_owned()
    } else if matches!(level, "蓝" | "黄" | "橙" | "红") {
        format!("{level}色预警")
    } else {
        format!("{level}预警")
    }
}

/// `[新舆情] 红色预警 · 县住建局` (plain text, unescaped).
pub fn header(msg: &OutboundMessage) -> String {
    header_of(
        msg.kind.label(),
        msg.level.as_deref(),
        &clamp_chars(&msg.department, MAX_DEPARTMENT_CHARS),
        |s| s.to_owned(),
    )
}

/// The header with the level and department passed through `esc` (the label is ours).
fn header_of(label: &str, level: Option<&str>, department: &str, esc: impl Fn(&str) -> String) -> String {
    let level = esc(&level.map(level_phrase).unwrap_or_default());
    let department = esc(department);
    match (level.is_empty(), department.trim().is_empty()) {
        (false, false) => format!("[{label}] {level} · {department}"),
        (false, true) => format!("[{label}] {level}"),
        (true, false) => format!("[{label}] {department}"),
        (true, true) => format!("[{label}]"),
    }
}

/// The first `max` characters of `s`, with `…` when something was cut.
pub fn truncate_chars(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}

fn clamp_chars(s: &str, max: usize) -> String {
    truncate_chars(s.trim(), max).into_owned()
}

/// The longest prefix of `s` of at most `max` bytes, ending on a character boundary.
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// The first `max` characters of `s`.
pub fn cut_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        None => s,
        Some((i, _)) => &s[..i],
    }
}

/// A link worth showing: an http(s) URL of reasonable length, normalised, with `(`/`)` encoded so
/// it can stand in markdown.
pub fn safe_link(link: Option<&str>) -> Option<String> {
    let link = link?.trim();
    if link.len() > MAX_LINK_BYTES {
        return None;
    }
    let u = url::Url::parse(link).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    Some(u.as_str().replace('(', "%28").replace(')', "%29"))
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Neutralises markdown: markup characters become full-width, line breaks spaces.
pub fn md_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '*' => '＊',
            '[' => '［',
            ']' => '］',
            '<' => '＜',
            '>' => '＞',
            '#' => '＃',
            '`' => '｀',
            '~' => '～',
            '\r' | '\n' | '\t' => ' ',
            c => c,
        })
        .collect()
}

/// The parts of a message a rendering draws on, after clamping.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    label: &'static str,
    level: Option<String>,
    department: String,
    pub title: String,
    pub lines: Vec<String>,
    /// How many trailing lines were dropped to fit.
    pub omitted: usize,
    pub link: Option<String>,
}

impl Fields {
    fn new(msg: &OutboundMessage) -> Self {
        Fields {
            label: msg.kind.label(),
            level: msg.level.clone(),
            department: clamp_chars(&msg.department, MAX_DEPARTMENT_CHARS),
            title: msg.title.trim().to_owned(),
            lines: msg
                .lines
                .iter()
                .map(|l| clamp_chars(l, MAX_LINE_CHARS))
                .filter(|l| !l.is_empty())
                .collect(),
            omitted: 0,
            link: safe_link(msg.link.as_deref()),
        }
    }

    /// `[label] level · department`, the level and department escaped with `esc`.
    fn header(&self, esc: impl Fn(&str) -> String) -> String {
        header_of(self.label, self.level.as_deref(), &self.department, esc)
    }

    fn omitted_line(&self) -> Option<String> {
        (self.omitted > 0).then(|| format!("…（另有 {} 条）", self.omitted))
    }
}

/// Renders with `render`, dropping trailing lines and then shortening the title until `measure`
/// is at most `limit`. Returns the last attempt when nothing fits (the caller cuts it).
fn fit<T>(
    msg: &OutboundMessage,
    limit: usize,
    measure: impl Fn(&T) -> usize,
    render: impl Fn(&Fields) -> T,
) -> T {
    let mut f = Fields::new(msg);
    let out = render(&f);
    if measure(&out) <= limit {
        return out;
    }
    while !f.lines.is_empty() {
        f.lines.pop();
        f.omitted += 1;
        let out = render(&f);
        if measure(&out) <= limit {
            return out;
        }
    }
    // Largest k (chars kept) in 0..n such that the title cut to k chars + "…" fits.
    let full = std::mem::take(&mut f.title);
    let n = full.chars().count();
    let with_title = |k: usize| {
        let mut g = f.clone();
        g.title = truncate_chars(&full, k).into_owned();
        g
    };
    let (mut lo, mut hi) = (0usize, n);
    // Invariant: every k < lo fits; every k >= hi does not (k = n is the full title, known not to).
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if measure(&render(&with_title(mid))) <= limit {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    render(&with_title(lo.saturating_sub(1)))
}

#[allow(clippy::ptr_arg)] // used as `Fn(&String) -> usize`
fn bytes(s: &String) -> usize {
    s.len()
}

#[allow(clippy::ptr_arg)]
fn chars(s: &String) -> usize {
    s.chars().count()
}

fn wecom_color(level: Option<&str>) -> &'static str {
    match level.map(str::trim) {
        Some(l) if l.starts_with('红') || l.starts_with('橙') => "warning",
        Some(l) if l.starts_with('蓝') => "info",
        _ => "comment",
    }
}

/// WeCom (企业微信 / 政务微信) group robot: `markdown.content`, at most [`WECOM_MAX_BYTES`].
pub fn wecom_markdown(msg: &OutboundMessage) -> String {
    let color = wecom_color(msg.level.as_deref());
    let out = fit(msg, WECOM_MAX_BYTES, bytes, |f| {
        let mut s = format!("<font color=\"{color}\">**{}**</font>\n", f.header(md_escape));
        if !f.title.is_empty() {
            s.push_str(&format!("> {}\n", md_escape(&f.title)));
        }
        for l in &f.lines {
            s.push_str(&format!("- {}\n", md_escape(l)));
        }
        if let Some(o) = f.omitted_line() {
            s.push_str(&format!("{o}\n"));
        }
        if let Some(link) = &f.link {
            s.push_str(&format!("[查看详情]({link})\n"));
        }
        s.truncate(s.trim_end().len());
        s
    });
    cut_bytes(&out, WECOM_MAX_BYTES).to_owned()
}

/// DingTalk robot: `(markdown.title, markdown.text)`; the text at most [`DINGTALK_MAX_BYTES`].
/// The title is what the notification preview shows: the header and the start of the event title.
pub fn dingtalk_markdown(msg: &OutboundMessage) -> (String, String) {
    let title = format!("{} {}", header(msg), truncate_chars(msg.title.trim(), 40));
    let text = fit(msg, DINGTALK_MAX_BYTES, bytes, |f| {
        let mut s = format!("#### {}\n\n", f.header(md_escape));
        if !f.title.is_empty() {
            s.push_str(&format!("**{}**\n\n", md_escape(&f.title)));
        }
        for l in &f.lines {
            s.push_str(&format!("- {}\n", md_escape(l)));
        }
        if let Some(o) = f.omitted_line() {
            s.push_str(&format!("\n{o}\n"));
        }
        if let Some(link) = &f.link {
            s.push_str(&format!("\n[查看详情]({link})\n"));
        }
        s.truncate(s.trim_end().len());
        s
    });
    (title.trim().to_owned(), cut_bytes(&text, DINGTALK_MAX_BYTES).to_owned())
}

fn feishu_template(level: Option<&str>) -> &'static str {
    match level.map(str::trim) {
        Some(l) if l.starts_with('红') => "red",
        Some(l) if l.starts_with('橙') => "orange",
        Some(l) if l.starts_with('黄') => "yellow",
        Some(l) if l.starts_with('蓝') => "blue",
        _ => "grey",
    }
}

/// Feishu custom bot: the `card` of an `msg_type = "interactive"` message (message card JSON: a
/// coloured header with the header line, a `lark_md` block with the title and lines, and a 查看
/// button when there is a link). Serialised, at most [`FEISHU_MAX_CARD_BYTES`].
pub fn feishu_card(msg: &OutboundMessage) -> Value {
    let template = feishu_template(msg.level.as_deref());
    fit(
        msg,
        FEISHU_MAX_CARD_BYTES,
        |v: &Value| serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX),
        |f| {
            let mut md = String::new();
            if !f.title.is_empty() {
                md.push_str(&format!("**{}**", md_escape(&f.title)));
            }
            for l in &f.lines {
                md.push_str(&format!("\n- {}", md_escape(l)));
            }
            if let Some(o) = f.omitted_line() {
                md.push_str(&format!("\n{o}"));
            }
            let mut elements = vec![json!({"tag": "div", "text": {"tag": "lark_md", "content": md.trim()}})];
            if let Some(link) = &f.link {
                elements.push(json!({"tag": "action", "actions": [{
                    "tag": "button",
                    "text": {"tag": "plain_text", "content": "查看"},
                    "type": "primary",
                    "url": link,
                }]}));
            }
            json!({
                "config": {"wide_screen_mode": true},
                "header": {"template": template, "title": {"tag": "plain_text", "content": f.header(str::to_owned)}},
                "elements": elements,
            })
        },
    )
}

/// Telegram `sendMessage` text with `parse_mode = HTML`, at most [`TELEGRAM_MAX_CHARS`].
pub fn telegram_html(msg: &OutboundMessage) -> String {
    let out = fit(msg, TELEGRAM_MAX_CHARS, chars, |f| {
        let mut s = format!("<b>{}</b>\n", f.header(html_escape));
        if !f.title.is_empty() {
            s.push_str(&format!("\n<b>{}</b>\n", html_escape(&f.title)));
        }
        for l in &f.lines {
            s.push_str(&format!("• {}\n", html_escape(l)));
        }
        if let Some(o) = f.omitted_line() {
            s.push_str(&format!("{o}\n"));
        }
        if let Some(link) = &f.link {
            s.push_str(&format!("\n<a href=\"{}\">查看详情</a>", html_escape(link)));
        }
        s.truncate(s.trim_end().len());
        s
    });
    cut_chars(&out, TELEGRAM_MAX_CHARS).to_owned()
}

/// An e-mail: subject, plain-text part and HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// E-mail: the subject is the header and the start of the title; both parts carry everything.
pub fn email(msg: &OutboundMessage) -> Email {
    let head = header(msg);
    let title = msg.title.trim();
    let subject = if title.is_empty() { head } else { format!("{head}：{}", truncate_chars(title, 60)) };
    let text = fit(msg, EMAIL_MAX_BYTES, bytes, |f| {
        let mut s = format!("{}\n\n", f.header(str::to_owned));
        if !f.title.is_empty() {
            s.push_str(&format!("{}\n\n", f.title));
        }
        for l in &f.lines {
            s.push_str(&format!("- {l}\n"));
        }
        if let Some(o) = f.omitted_line() {
            s.push_str(&format!("{o}\n"));
        }
        if let Some(link) = &f.link {
            s.push_str(&format!("\n查看：{link}\n"));
        }
        s
    });
    let html = fit(msg, EMAIL_MAX_BYTES, bytes, |f| {
        let mut s = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n",
        );
        s.push_str(&format!("<p><strong>{}</strong></p>\n", f.header(html_escape)));
        if !f.title.is_empty() {
            s.push_str(&format!("<h2 style=\"font-size:1.2em\">{}</h2>\n", html_escape(&f.title)));
        }
        if !f.lines.is_empty() {
            s.push_str("<ul>\n");
            for l in &f.lines {
                s.push_str(&format!("<li>{}</li>\n", html_escape(l)));
            }
            s.push_str("</ul>\n");
        }
        if let Some(o) = f.omitted_line() {
            s.push_str(&format!("<p>{}</p>\n", html_escape(&o)));
        }
        if let Some(link) = &f.link {
            s.push_str(&format!("<p><a href=\"{0}\">查看详情</a> {0}</p>\n", html_escape(link)));
        }
        s.push_str("</body></html>\n");
        s
    });
    Email {
        subject: subject.replace(['\r', '\n'], " "),
        text: cut_bytes(&text, EMAIL_MAX_BYTES).to_owned(),
        html: cut_bytes(&html, EMAIL_MAX_BYTES).to_owned(),
    }
}

/// How many SMS segments a Chinese (UCS-2) text is billed as: one up to 70 characters, else one
/// per 67 (each part of a concatenated message carries a header). Characters are counted in UTF-16
/// units, as the carriers count them (an emoji is two); an empty text is one segment.
pub fn sms_segments(text: &str) -> usize {
    let n = text.encode_utf16().count();
    if n <= 70 { 1 } else { n.div_ceil(67) }
}

/// The text the carrier will send: the signature `【sign_name】` (counted in the length) and the
/// template with its placeholders filled in.
pub fn sms_text(
    template: &str,
    sign_name: Option<&str>,
    level: &str,
    title: &str,
    department: &str,
) -> String {
    let body =
        template.replace("{level}", level).replace("{department}", department).replace("{title}", title);
    match sign_name {
        Some(s) if !s.trim().is_empty() => format!("【{}】{body}", s.trim()),
        _ => body,
    }
}

/// The parameters of an SMS template message, shortened so the rendered text takes at most
/// `max_segments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsParams {
    /// `红色预警`, or the notice's label (e.g. `办理时限提醒`) when the message has no level.
    pub level: String,
    pub title: String,
    pub department: String,
    /// The text as the template renders it (for the segment count and logs).
    pub text: String,
    pub segments: usize,
}

/// SMS: fills the template, shortening the title (then the department) with `…` until the text
/// takes at most `max_segments`. The link is not sent (carriers filter messages with links).
pub fn sms(msg: &OutboundMessage, template: &str, sign_name: Option<&str>, max_segments: usize) -> SmsParams {
    let level = msg.level.as_deref().map(level_phrase).filter(|l| !l.is_empty());
    let level = level.unwrap_or_else(|| msg.kind.label().to_owned());
    let title = clean_sms(&msg.title);
    let mut department = clamp_chars(&clean_sms(&msg.department), MAX_DEPARTMENT_CHARS);
    let make = |t: &str, d: &str| sms_text(template, sign_name, &level, t, d);
    let fits = |t: &str, d: &str| sms_segments(&make(t, d)) <= max_segments;
    let mut t = title.clone();
    if !fits(&t, &department) {
        t = shorten_to_fit(&title, |c| fits(c, &department));
        if !fits(&t, &department) {
            let full_dept = department.clone();
            department = shorten_to_fit(&full_dept, |c| fits(&t, c));
        }
    }
    let text = make(&t, &department);
    SmsParams { segments: sms_segments(&text), level, title: t, department, text }
}

fn clean_sms(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

/// The longest `truncate_chars(s, k)` for which `ok` holds (k = 0, just "…", when none does).
fn shorten_to_fit(s: &str, ok: impl Fn(&str) -> bool) -> String {
    let n = s.chars().count();
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(&truncate_chars(s, mid)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    truncate_chars(s, lo.saturating_sub(1)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuqing_core::notify::NoticeKind;

    fn msg(title: &str, lines: usize) -> OutboundMessage {
        OutboundMessage {
            idempotency_key: "k1".into(),
            channel: "c".into(),
            to: None,
            kind: NoticeKind::New,
            title: title.into(),
            level: Some("红".into()),
            department: "县住建局".into(),
            lines: (0..lines)
                .map(|i| format!("第{i}条：热度上升，涉及城关镇、东关镇，转发量持续增加"))
                .collect(),
            link: Some("https://yq.example.gov.cn/events/42".into()),
            alert_ref: "a42".into(),
        }
    }

    fn long_title() -> String {
        "某小区业主反映楼盘延期交付、维权群众聚集在售楼处门前要求开发商给出说法".repeat(200)
    }

    #[test]
    fn header_reads_label_level_department() {
        let m = msg("标题", 0);
        assert_eq!(header(&m), "[新舆情] 红色预警 · 县住建局");
        let mut m2 = m.clone();
        m2.level = None;
        m2.kind = NoticeKind::Reminder;
        assert_eq!(header(&m2), "[办理时限提醒] 县住建局");
        assert_eq!(level_phrase("橙色"), "橙色预警");
        assert_eq!(level_phrase("I级"), "I级预警");
    }

    #[test]
    fn short_messages_keep_everything() {
        let m = msg("业主维权", 3);
        let w = wecom_markdown(&m);
        assert!(w.contains("[新舆情] 红色预警 · 县住建局"), "{w}");
        assert!(w.contains("> 业主维权"));
        assert!(w.contains("第2条"));
        assert!(w.contains("[查看详情](https://yq.example.gov.cn/events/42)"));
        let t = telegram_html(&m);
        assert!(t.starts_with("<b>[新舆情] 红色预警 · 县住建局</b>"), "{t}");
        assert!(t.contains("<a href=\"https://yq.example.gov.cn/events/42\">"));
        let (title, text) = dingtalk_markdown(&m);
        assert_eq!(title, "[新舆情] 红色预警 · 县住建局 业主维权");
        assert!(text.contains("**业主维权**") && text.contains("- 第0条"));
    }

    #[test]
    fn wecom_limit_in_bytes_drops_lines_then_cuts_title() {
        let m = msg("短标题", 200);
        let w = wecom_markdown(&m);
        assert!(w.len() <= WECOM_MAX_BYTES, "{}", w.len());
        assert!(w.contains("> 短标题"));
        assert!(w.contains("第0条"), "the first lines stay");
        assert!(!w.contains("第199条"), "trailing lines go");
        assert!(w.contains("条）"), "and the reader is told: {w}");
        assert!(w.ends_with("[查看详情](https://yq.example.gov.cn/events/42)"));

        let m = msg(&long_title(), 5);
        let w = wecom_markdown(&m);
        assert!(w.len() <= WECOM_MAX_BYTES);
        assert!(w.len() > WECOM_MAX_BYTES - 100, "uses the room it has: {}", w.len());
        assert!(w.contains("…"));
        assert!(!w.contains("第0条"), "lines go before the title is cut");
        assert!(w.contains("[新舆情]") && w.contains("[查看详情]"));
    }

    #[test]
    fn dingtalk_limit_in_bytes() {
        let m = msg(&long_title(), 50);
        let (_, text) = dingtalk_markdown(&m);
        assert!(text.len() <= DINGTALK_MAX_BYTES);
        assert!(text.len() > DINGTALK_MAX_BYTES - 100);
        assert!(std::str::from_utf8(text.as_bytes()).is_ok());
    }

    #[test]
    fn telegram_limit_in_chars() {
        let m = msg(&long_title(), 50);
        let t = telegram_html(&m);
        assert!(t.chars().count() <= TELEGRAM_MAX_CHARS);
        assert!(t.chars().count() > TELEGRAM_MAX_CHARS - 10);
        assert!(t.len() > TELEGRAM_MAX_CHARS, "chars, not bytes, are counted");
        assert!(t.contains("…</b>"), "the title is cut inside its tag");
    }

    #[test]
    fn feishu_card_fits_and_has_header_and_button() {
        let m = msg(&long_title(), 50);
        let card = feishu_card(&m);
        let n = serde_json::to_vec(&card).expect("json").len();
        assert!(n <= FEISHU_MAX_CARD_BYTES && n > FEISHU_MAX_CARD_BYTES - 200, "{n}");
        assert_eq!(card["header"]["template"], "red");
        assert_eq!(card["header"]["title"]["content"], "[新舆情] 红色预警 · 县住建局");
        assert_eq!(card["elements"][1]["actions"][0]["url"], "https://yq.example.gov.cn/events/42");
    }

    #[test]
    fn values_are_escaped() {
        let mut m = msg("<script>x</script> & [点我](http://evil) **粗**", 1);
        m.lines = vec!["a<b>c".into()];
        m.department = "\"局\"".into();
        let t = telegram_html(&m);
        assert!(t.contains("&lt;script&gt;x&lt;/script&gt; &amp;"), "{t}");
        assert!(t.contains("a&lt;b&gt;c"));
        assert!(t.contains("&quot;局&quot;"));
        let e = email(&m);
        assert!(e.html.contains("&lt;script&gt;") && !e.html.contains("<script>"));
        assert!(e.text.contains("<script>"), "the plain part is plain");
        let w = wecom_markdown(&m);
        assert!(!w.contains("[点我](http://evil)") && w.contains("［点我］(http://evil)"), "{w}");
        assert!(!w.contains("<script>"));
    }

    #[test]
    fn unsafe_links_are_left_out() {
        let mut m = msg("t", 0);
        m.link = Some("javascript:alert(1)".into());
        assert!(!telegram_html(&m).contains("href"));
        m.link = Some("https://x.example/a(b)".into());
        assert!(wecom_markdown(&m).contains("(https://x.example/a%28b%29)"));
    }

    #[test]
    fn cuts_never_split_a_character() {
        let s = "中文字符";
        for i in 0..=s.len() {
            let c = cut_bytes(s, i);
            assert!(c.len() <= i && s.starts_with(c));
        }
        assert_eq!(cut_bytes(s, 4), "中");
        assert_eq!(cut_chars(s, 2), "中文");
        assert_eq!(truncate_chars(s, 2), "中文…");
        assert_eq!(truncate_chars(s, 4), "中文字符");
    }

    #[test]
    fn sms_segments_follow_the_70_67_rule() {
        assert_eq!(sms_segments(""), 1);
        assert_eq!(sms_segments(&"中".repeat(70)), 1);
        assert_eq!(sms_segments(&"中".repeat(71)), 2);
        assert_eq!(sms_segments(&"中".repeat(134)), 2);
        assert_eq!(sms_segments(&"中".repeat(135)), 3);
        assert_eq!(sms_segments(&"a".repeat(70)), 1, "ASCII counts as one character too");
        assert_eq!(sms_segments(&"😀".repeat(35)), 1, "an emoji is two UTF-16 units");
        assert_eq!(sms_segments(&"😀".repeat(36)), 2);
    }

    #[test]
    fn sms_title_is_shortened_to_max_segments() {
        let m = msg(&long_title(), 3);
        for max in 1..=3 {
            let p = sms(&m, DEFAULT_SMS_TEMPLATE, Some("某县人民政府"), max);
            assert_eq!(p.segments, max, "{}", p.text);
            assert!(p.title.ends_with('…'));
            assert!(p.text.starts_with("【某县人民政府】县住建局：红色预警“"), "{}", p.text);
            // One more character of the title would not fit.
            let kept = p.title.chars().count() - 1;
            let one_more = truncate_chars(&long_title(), kept + 1).into_owned();
            let t = sms_text(DEFAULT_SMS_TEMPLATE, Some("某县人民政府"), "红色预警", &one_more, "县住建局");
            assert!(sms_segments(&t) > max);
        }
        let short = sms(&msg("业主维权", 0), DEFAULT_SMS_TEMPLATE, None, 1);
        assert_eq!(short.title, "业主维权");
        assert_eq!(short.segments, 1);
        let mut nolevel = msg("t", 0);
        nolevel.level = None;
        nolevel.kind = NoticeKind::Reminder;
        assert_eq!(sms(&nolevel, DEFAULT_SMS_TEMPLATE, None, 2).level, "办理时限提醒");
    }

    #[test]
    fn huge_fields_do_not_break_limits() {
        let mut m = msg(&long_title(), 0);
        m.department = "部".repeat(100_000);
        m.lines = vec!["行".repeat(100_000); 100];
        assert!(wecom_markdown(&m).len() <= WECOM_MAX_BYTES);
        assert!(telegram_html(&m).chars().count() <= TELEGRAM_MAX_CHARS);
        assert!(dingtalk_markdown(&m).1.len() <= DINGTALK_MAX_BYTES);
        assert!(serde_json::to_vec(&feishu_card(&m)).expect("json").len() <= FEISHU_MAX_CARD_BYTES);
        let p = sms(&m, DEFAULT_SMS_TEMPLATE, None, 2);
        assert!(p.segments <= 2);
        let e = email(&m);
        assert!(e.html.len() <= EMAIL_MAX_BYTES && e.text.len() <= EMAIL_MAX_BYTES);
    }
}
