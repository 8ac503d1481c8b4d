//! The automatic publication check (先审查、后公开): what a draft must not contain before it goes
//! public.
//!
//! [`PublicationPolicy`] is read from `config/publication.toml`: the county's 负面清单 (phrases that
//! must never be published) and the institution names abolished by the 2018–2024 reforms with
//! their current names. [`PublicationPolicy::check`] reports every [`Finding`], or returns a
//! [`PassedCheck`]: the only way to obtain one, and one of the two proofs
//! [`crate::case::Transition::Publish`] requires. A `PassedCheck` covers exactly the text it
//! checked (length and 64-bit FNV-1a hash of its bytes), so any later edit voids it.
//!
//! What is found (offsets are in chars of the draft as given):
//! - a 负面清单 phrase;
//! - personal data: an 18-character resident ID number with a valid ISO 7064 MOD 11-2 check
//!   character, a known province code and a real birth date; a mainland mobile number (11 digits,
//!   `1[3-9]…`, also after `+86`); a bank card number (16–19 digits passing the Luhn check). A
//!   number must be a whole digit run (not part of a longer one); the usual grouped spellings
//!   (`138 0013 8000`, `6222-0212-…`, `650102 19900101 123X`) count too. A number that is an ID is
//!   not reported again as a card. Messages show it masked (`6501**********1234`);
//! - an abolished institution name (`卫计委`), with the current name to use. Whole configured names
//!   only; none inside a current name it is part of (`旅游局` in `文化体育广播电视和旅游局`), none
//!   inside a longer abolished name, none after a historical marker (`原卫计委`).
//!
//! Full-width letters, digits and spaces (`１３８…`) are read as their ASCII forms, and Latin
//! letters case-insensitively; the mapping is char for char, so offsets are those of the draft.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

/// Every problem found in a publication policy file, each naming the file and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    /// (key or line, message).
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, message)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {key}: {message}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    negative_list: Vec<String>,
    #[serde(default)]
    superseded: BTreeMap<String, String>,
    #[serde(default = "default_markers")]
    historical_markers: Vec<String>,
}

fn default_markers() -> Vec<String> {
    vec!["原".to_owned()]
}

#[derive(Debug, Clone)]
struct Phrase {
    text: String,
    chars: Vec<char>,
}

impl Phrase {
    fn new(text: &str) -> Phrase {
        let text = text.trim().to_owned();
        let chars = normalize(&text);
        Phrase { text, chars }
    }
}

#[derive(Debug, Clone)]
struct Superseded {
    old: Phrase,
    /// The current name, possibly with a hint in parentheses: `农业农村局（乡村振兴）`.
    current: String,
}

/// The checked publication policy.
#[derive(Debug, Clone)]
pub struct PublicationPolicy {
    name: String,
    version: u64,
    negative_list: Vec<Phrase>,
    superseded: Vec<Superseded>,
    /// Current names (without hints): an abolished name inside one of these is not reported.
    protected: Vec<Vec<char>>,
    markers: Vec<Vec<char>>,
}

impl PublicationPolicy {
    /// Parses `toml_text`, the content of the file called `name` (used in errors).
    pub fn parse(name: &str, toml_text: &str) -> Result<PublicationPolicy, PolicyError> {
        let err = |problems: Vec<(String, String)>| PolicyError { file: name.to_owned(), problems };
        let raw: RawPolicy = toml::from_str(toml_text).map_err(|e| {
            let at = match e.span() {
                Some(span) => {
                    let line = toml_text[..span.start.min(toml_text.len())].matches('\n').count();
                    format!("line {}", line + 1)
                }
                None => "(file)".to_owned(),
            };
            err(vec![(at, e.message().trim().to_owned())])
        })?;
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        let mut negative_list = Vec::new();
        for (i, p) in raw.negative_list.iter().enumerate() {
            let phrase = Phrase::new(p);
            if phrase.chars.is_empty() {
                problems.push((format!("negative_list[{i}]"), "empty phrase".to_owned()));
            } else if !seen.insert(phrase.chars.clone()) {
                problems.push((format!("negative_list[{i}]"), format!("duplicate phrase {p:?}")));
            } else {
                negative_list.push(phrase);
            }
        }
        let mut superseded = Vec::new();
        let mut protected = Vec::new();
        for (old, current) in &raw.superseded {
            let key = format!("superseded.{old:?}");
            let old_phrase = Phrase::new(old);
            let base = current.split(['（', '(']).next().unwrap_or("").trim();
            if old_phrase.chars.is_empty() {
                problems.push((key, "empty institution name".to_owned()));
            } else if base.is_empty() {
                problems.push((key, "no current name".to_owned()));
            } else if old.trim() == base {
                problems.push((key, "the current name equals the abolished one".to_owned()));
            } else {
                let base = normalize(base);
                if !protected.contains(&base) {
                    protected.push(base);
                }
                superseded.push(Superseded { old: old_phrase, current: current.trim().to_owned() });
            }
        }
        let mut markers = Vec::new();
        for (i, m) in raw.historical_markers.iter().enumerate() {
            let m = normalize(m.trim());
            if m.is_empty() {
                problems.push((format!("historical_markers[{i}]"), "empty marker".to_owned()));
            } else {
                markers.push(m);
            }
        }
        if !problems.is_empty() {
            return Err(err(problems));
        }
        Ok(PublicationPolicy {
            name: name.to_owned(),
            version: fnv1a(toml_text.as_bytes()),
            negative_list,
            superseded,
            protected,
            markers,
        })
    }

    /// The file name given to [`PublicationPolicy::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// FNV-1a of the policy text: a [`PassedCheck`] says which policy passed it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The 负面清单 phrases, as configured.
    pub fn negative_list(&self) -> impl Iterator<Item = &str> {
        self.negative_list.iter().map(|p| p.text.as_str())
    }

    /// (abolished name, current name) pairs, as configured.
    pub fn superseded(&self) -> impl Iterator<Item = (&str, &str)> {
        self.superseded.iter().map(|s| (s.old.text.as_str(), s.current.as_str()))
    }

    /// Checks `draft_text`: every finding in order of position, or the proof that none was found.
    pub fn check(&self, draft_text: &str) -> Result<PassedCheck, Vec<Finding>> {
        let original: Vec<char> = draft_text.chars().collect();
        let chars = normalize(draft_text);
        let mut findings = Vec::new();
        let slice = |s: usize, e: usize| original[s..e].iter().collect::<String>();

        for p in &self.negative_list {
            for s in find_all(&chars, &p.chars) {
                let e = s + p.chars.len();
                findings.push(Finding {
                    kind: FindingKind::NegativeList { phrase: p.text.clone() },
                    text: slice(s, e),
                    start: s,
                    end: e,
                    message: format!(
                        "含负面清单内容“{}”，不得公开 / phrase on the negative list: {}",
                        p.text, p.text
                    ),
                });
            }
        }

        for (kind, s, e) in personal_data(&chars) {
            let text = slice(s, e);
            let masked = mask(&text, kind);
            let message = match kind {
                PersonalData::Id => {
                    format!("含居民身份证号码 {masked}，公开前须删除或隐去 / resident ID number {masked}")
                }
                PersonalData::Mobile => {
                    format!("含手机号码 {masked}，公开前须删除或隐去 / mobile number {masked}")
                }
                PersonalData::Card => {
                    format!("含银行卡号 {masked}，公开前须删除或隐去 / bank card number {masked}")
                }
            };
            let kind = match kind {
                PersonalData::Id => FindingKind::IdNumber,
                PersonalData::Mobile => FindingKind::MobileNumber,
                PersonalData::Card => FindingKind::BankCard,
            };
            findings.push(Finding { kind, text, start: s, end: e, message });
        }

        let protected: Vec<(usize, usize)> = self
            .protected
            .iter()
            .flat_map(|p| find_all(&chars, p).into_iter().map(move |s| (s, s + p.len())))
            .collect();
        let mut hits: Vec<(usize, usize, &Superseded)> = Vec::new();
        for sup in &self.superseded {
            for s in find_all(&chars, &sup.old.chars) {
                let e = s + sup.old.chars.len();
                let inside_current = protected.iter().any(|&(ps, pe)| ps <= s && e <= pe);
                let historical = self.markers.iter().any(|m| chars[..s].ends_with(m));
                if !inside_current && !historical {
                    hits.push((s, e, sup));
                }
            }
        }
        let longer = hits.clone();
        hits.retain(|&(s, e, _)| !longer.iter().any(|&(ls, le, _)| ls <= s && e <= le && le - ls > e - s));
        for (s, e, sup) in hits {
            findings.push(Finding {
                kind: FindingKind::SupersededName { current: sup.current.clone() },
                text: slice(s, e),
                start: s,
                end: e,
                message: format!(
                    "机构名称“{}”已撤销，应为“{}” / abolished institution name {}: use {}",
                    sup.old.text, sup.current, sup.old.text, sup.current
                ),
            });
        }

        if findings.is_empty() {
            Ok(PassedCheck {
                chars: draft_text.len(),
                hash: fnv1a(draft_text.as_bytes()),
                policy_version: self.version,
            })
        } else {
            findings.sort_by_key(|f| (f.start, f.end));
            Err(findings)
        }
    }
}

/// Proof that a text passed [`PublicationPolicy::check`]. It has no public constructor, no
/// `Default` and no `Deserialize`: the check is the only way to get one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedCheck {
    /// Length of the checked text in bytes.
    chars: usize,
    hash: u64,
    policy_version: u64,
}

impl PassedCheck {
    /// Whether this check was of exactly `text`.
    pub fn covers(&self, text: &str) -> bool {
        text.len() == self.chars && fnv1a(text.as_bytes()) == self.hash
    }

    /// The [`PublicationPolicy::version`] that passed the text.
    pub fn policy_version(&self) -> u64 {
        self.policy_version
    }
}

/// What a finding is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingKind {
    /// A 负面清单 phrase (as configured).
    NegativeList { phrase: String },
    /// 居民身份证号码.
    IdNumber,
    /// 手机号码.
    MobileNumber,
    /// 银行卡号.
    BankCard,
    /// An abolished institution name, with the name to use.
    SupersededName { current: String },
}

impl FindingKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FindingKind::NegativeList { .. } => "negative_list",
            FindingKind::IdNumber => "id_number",
            FindingKind::MobileNumber => "mobile_number",
            FindingKind::BankCard => "bank_card",
            FindingKind::SupersededName { .. } => "superseded_name",
        }
    }
}

/// Something in a draft that must change before publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    /// The matched text as written in the draft (unmasked: for highlighting only, never log it;
    /// `message` is masked).
    pub text: String,
    /// Char offsets into the draft, `start..end`.
    pub start: usize,
    pub end: usize,
    /// For the drafter, in Chinese and English; personal data masked.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}: {}", self.start, self.end, self.message)
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Full-width ASCII forms and the ideographic space to ASCII, ASCII letters to lower case; other
/// spaces (no-break) to a plain space. One char for one char.
fn normalize(s: &str) -> Vec<char> {
    s.chars()
        .map(|c| {
            let c = match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                '\u{3000}' | '\u{00A0}' | '\u{2007}' | '\u{202F}' => ' ',
                _ => c,
            };
            c.to_ascii_lowercase()
        })
        .collect()
}

/// Start offsets of the non-overlapping occurrences of `needle`, left to right.
fn find_all(hay: &[char], needle: &[char]) -> Vec<usize> {
    let mut out = Vec::new();
    if needle.is_empty() || needle.len() > hay.len() {
        return out;
    }
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if hay[i..i + needle.len()] == *needle {
            out.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonalData {
    Id,
    Mobile,
    Card,
}

/// Province-level codes that begin a resident ID number (GB/T 2260), with 71/81/82/83 for the
/// residence permits of residents of Taiwan, Hong Kong and Macao.
const PROVINCES: &[u32] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
    61, 62, 63, 64, 65, 71, 81, 82, 83,
];

fn digit(c: char) -> u32 {
    c.to_digit(10).unwrap_or(0)
}

/// The ISO 7064 MOD 11-2 check character of the first 17 digits of an ID number.
fn id_check_char(first17: &[char]) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'x', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(&c, w)| digit(c) * w).sum();
    CHECK[(sum % 11) as usize]
}

/// 18 chars (normalised, so `x` for X): 17 digits, a valid check character, a known province code
/// and a real birth date between 1900 and 2100.
fn is_id_number(c: &[char]) -> bool {
    if c.len() != 18 || !c[..17].iter().all(char::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| c[r].iter().fold(0u32, |n, &d| n * 10 + digit(d));
    if !PROVINCES.contains(&num(0..2)) {
        return false;
    }
    let (y, m, d) = (num(6..10), num(10..12), num(12..14));
    let date_ok = (1900..=2100).contains(&y)
        && i32::try_from(y).ok().and_then(|y| chrono::NaiveDate::from_ymd_opt(y, m, d)).is_some();
    date_ok && id_check_char(&c[..17]) == c[17]
}

fn is_mobile(c: &[char]) -> bool {
    c.len() == 11 && c.iter().all(char::is_ascii_digit) && c[0] == '1' && ('3'..='9').contains(&c[1])
}

fn luhn(c: &[char]) -> bool {
    let mut sum = 0;
    for (i, &d) in c.iter().rev().enumerate() {
        let mut v = digit(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn is_card(c: &[char]) -> bool {
    (16..=19).contains(&c.len()) && c.iter().all(char::is_ascii_digit) && luhn(c)
}

/// Classifies the digits of one number (ID first, so an ID is never also a card).
fn classify(digits: &[char]) -> Option<PersonalData> {
    if is_id_number(digits) {
        Some(PersonalData::Id)
    } else if is_mobile(digits) {
        Some(PersonalData::Mobile)
    } else if is_card(digits) {
        Some(PersonalData::Card)
    } else {
        None
    }
}

/// Personal data in normalised chars: (kind, start, end).
fn personal_data(chars: &[char]) -> Vec<(PersonalData, usize, usize)> {
    let n = chars.len();
    let is_digit = |i: usize| i < n && chars[i].is_ascii_digit();
    // Maximal digit runs.
    let mut runs = Vec::new();
    let mut i = 0;
    while i < n {
        if chars[i].is_ascii_digit() {
            let s = i;
            while is_digit(i) {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    // An ID number's check character `x` directly after 17 digits, not followed by a letter or
    // digit.
    let x_after = |e: usize| e < n && chars[e] == 'x' && !(e + 1 < n && chars[e + 1].is_ascii_alphanumeric());
    let mut out = Vec::new();
    let mut covered = vec![false; runs.len()];
    for (k, &(s, e)) in runs.iter().enumerate() {
        let run = &chars[s..e];
        let found = if run.len() == 17 && x_after(e) {
            is_id_number(&chars[s..=e]).then_some((PersonalData::Id, s, e + 1))
        } else if run.len() == 13 && run.starts_with(&['8', '6']) && s > 0 && chars[s - 1] == '+' {
            is_mobile(&run[2..]).then_some((PersonalData::Mobile, s - 1, e))
        } else {
            classify(run).map(|kind| (kind, s, e))
        };
        if let Some(f) = found {
            covered[k] = true;
            out.push(f);
        }
    }
    // Grouped spellings: runs joined by one space or one hyphen, the same separator throughout.
    let mut k = 0;
    while k < runs.len() {
        let mut j = k;
        if let Some(&sep @ (' ' | '-')) = chars.get(runs[k].1) {
            while j + 1 < runs.len() && runs[j].1 + 1 == runs[j + 1].0 && chars[runs[j].1] == sep {
                j += 1;
            }
        }
        if j > k && !covered[k..=j].iter().any(|&c| c) {
            let lens: Vec<usize> = runs[k..=j].iter().map(|&(s, e)| e - s).collect();
            let mut digits: Vec<char> =
                runs[k..=j].iter().flat_map(|&(s, e)| chars[s..e].iter().copied()).collect();
            let (s, mut e) = (runs[k].0, runs[j].1);
            let found = match lens.as_slice() {
                [3, 4, 4] => is_mobile(&digits).then_some(PersonalData::Mobile),
                [6, 8, 4] => is_id_number(&digits).then_some(PersonalData::Id),
                [6, 8, 3] if x_after(e) => {
                    digits.push('x');
                    e += 1;
                    is_id_number(&digits).then_some(PersonalData::Id)
                }
                [4, 4, 4, rest @ ..]
                    if (1..=3).contains(&rest.len())
                        && rest[..rest.len() - 1].iter().all(|&l| l == 4)
                        && (1..=4).contains(&rest[rest.len() - 1]) =>
                {
                    is_card(&digits).then_some(PersonalData::Card)
                }
                _ => None,
            };
            if let Some(kind) = found {
                out.push((kind, s, e));
            }
        }
        k = j + 1;
    }
    out.sort_by_key(|&(_, s, _)| s);
    out
}

/// Keeps the first and last digits of a number and stars the rest: `6501**********1234`,
/// `138****8000`. Separators are dropped.
fn mask(text: &str, kind: PersonalData) -> String {
    let mut digits: Vec<char> = text
        .chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' | '\u{FF38}' | '\u{FF58}' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut out = String::new();
    if kind == PersonalData::Mobile && digits.len() == 13 {
        out.push_str("+86 ");
        digits.drain(..2);
    }
    let (front, back) = match kind {
        PersonalData::Mobile => (3, 4),
        PersonalData::Id | PersonalData::Card => (4, 4),
    };
    let (front, back) = if digits.len() < front + back { (0, 0) } else { (front, back) };
    let n = digits.len();
    for (i, c) in digits.iter().enumerate() {
        if i < front || i >= n - back {
            out.push(*c);
        } else {
            out.push('*');
        }
    }
    out
}
