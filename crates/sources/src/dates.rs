//! Publication dates as Chinese news sites, feeds and social platforms print them: absolute forms
//! (`2017-04-14 10:20`, `2017年4月14日 下午3:05`, RFC 3339, RFC 2822, Weibo's `created_at`, unix
//! seconds/milliseconds), year-less forms (`06-14 12:30`, `6月14日`) and relative ones (`刚刚`,
//! `5分钟前`, `昨天 12:30`), resolved against the fetch time in the source's time zone.
//!
//! Pure functions: no IO, and the clock is never read — `now` is an input. Never panics on any input.
//!
//! Rules shared by every form:
//! - full-width digits and punctuation (`２０１７－０４－１４`, `：`) are folded to ASCII first;
//! - a string with its own offset (`+08:00`, `Z`, `GMT`) keeps it; a naive wall-clock time is read in
//!   the source's zone (the earliest instant when ambiguous, one hour later when skipped by a DST jump);
//! - a time without seconds gets `:00`, a date without a time is local midnight;
//! - a year-less date takes `now`'s year, or the previous one if that would be more than a day ahead;
//! - results whose local year is outside `1990..=now_year + 1` are rejected.

use std::cmp::Reverse;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use regex::{Captures, Match, Regex};

/// Parses one date string (already extracted from a page/field). None when it is not a date.
///
/// Surrounding whitespace and a leading label such as `发布时间：` are tolerated; anything else
/// around the date makes it not a date (use [`find_date`] for running text).
pub fn parse_date(s: &str, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let ctx = Ctx::new(now, tz)?;
    let text = normalise(s);
    let body = strip_label(text.trim());
    if let Some(found) = parse_timestamp(body) {
        return ctx.accept(found);
    }
    RULES.iter().find_map(|rule| {
        let caps = rule.whole.captures(body)?;
        (rule.handler)(&caps, &ctx).and_then(|found| ctx.accept(found))
    })
}

/// Finds the first date-like expression inside a longer text (e.g. "来源：新华网 2019-09-05 11:10 编辑：张三",
/// "发布时间：2017年4月14日 10:20") and parses it; None if there is none.
///
/// "First" is by position; at the same position the longest expression wins. An expression that
/// looks like a date but is invalid (`2017-13-01`) is skipped in favour of the next one. Bare `刚刚`,
/// `今天`, `昨天` are too common in prose to count here (`昨天 12:30` and `3分钟前` do count), and a
/// bare number is never read as a unix timestamp.
pub fn find_date(text: &str, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let ctx = Ctx::new(now, tz)?;
    let text = normalise(text);
    let mut candidates = Vec::new();
    for (index, rule) in RULES.iter().enumerate() {
        let Some(inner) = &rule.inner else { continue };
        for caps in inner.captures_iter(&text) {
            let Some(found) = caps.get(0) else { continue };
            if stands_alone(&text, found.start(), found.end()) {
                candidates.push((found.start(), Reverse(found.end()), index, rule, caps));
            }
        }
    }
    candidates.sort_by_key(|c| (c.0, c.1, c.2));
    candidates
        .into_iter()
        .find_map(|(_, _, _, rule, caps)| (rule.handler)(&caps, &ctx).and_then(|found| ctx.accept(found)))
}

/// Earliest accepted year.
const MIN_YEAR: i32 = 1990;
/// Latest accepted year whatever `now` says (keeps every conversion far from chrono's limits).
const MAX_YEAR: i32 = 9999;

// ---------------------------------------------------------------------------------------------
// Patterns. Every named group means the same thing in every pattern; the handlers read them by name.
// ---------------------------------------------------------------------------------------------

/// A wall-clock time: `10:20`, `10:20:30.250`, `下午3:05`, `10点20分`, `10时20分30秒`.
const TIME: &str = r"(?:(?P<ampm>上午|早上|凌晨|中午|下午|晚上|傍晚)\s*)?(?P<h>[0-9]{1,2})[:时点](?P<mi>[0-9]{1,2})(?:[:分](?P<s>[0-9]{1,2})(?:\.(?P<frac>[0-9]{1,9}))?秒?|分)?";
/// An ISO time of day: `11:42`, `11:42:03`, `11:42:03.250`.
const ISO_TIME: &str = r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<frac>[0-9]{1,9}))?)?";
/// The same with seconds required.
const ISO_TIME_SECONDS: &str =
    r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<frac>[0-9]{1,9}))?";
/// An explicit offset after an ISO date-time. Only taken after a `T` or after seconds, so that the
/// `-12:00` of a time range `11:10-12:00` is not read as an offset.
const ZONE: &str = r"\s?(?P<tz>Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2})";
/// `2017-04-14`, `2017/4/14`, `2017.04.14`.
const YMD: &str = r"(?P<y>[0-9]{4})[-/.](?P<mo>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})";
/// `2017年4月14日`.
const CN_YMD: &str = r"(?P<y>[0-9]{4})\s*年\s*(?P<mo>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*[日号]?";
/// `6月14日`.
const CN_MD: &str = r"(?P<mo>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*[日号]";
/// `06-14`, `6/14`.
const MD: &str = r"(?P<mo>[0-9]{1,2})[-/](?P<d>[0-9]{1,2})";
/// A Chinese weekday some sites print between date and time (`星期五`, `(周五)`); not checked.
const CN_WEEKDAY: &str = r"(?:\s*\(?(?:星期|周|礼拜)[一二三四五六日天]\)?)?";
/// English weekday, abbreviated or not; its value is not checked against the date.
const WEEKDAY: &str = r"(?i:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*)";
/// English month name, abbreviated or not.
const MONTH: &str = r"(?P<mon>(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(?i:[a-z]*)\.?";
/// `10:20` or `10:20:30` in the English formats.
const CLOCK: &str = r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2}))?";
const HALF_HOUR_AGO: &str = r"半\s*个?\s*(?:小时|钟头)\s*[以之]?前";
const JUST_NOW: &str = r"刚刚|刚才";

/// Builds the span of N units (`TimeDelta::try_minutes` and the like); None on overflow.
type Span = fn(i64) -> Option<TimeDelta>;

/// Units of `N…前`, with the span of N of them.
const AGO_UNITS: &[(&str, Span)] = &[
    ("秒钟", TimeDelta::try_seconds),
    ("秒", TimeDelta::try_seconds),
    ("分钟", TimeDelta::try_minutes),
    ("分", TimeDelta::try_minutes),
    ("个小时", TimeDelta::try_hours),
    ("小时", TimeDelta::try_hours),
    ("个钟头", TimeDelta::try_hours),
    ("钟头", TimeDelta::try_hours),
    ("天", TimeDelta::try_days),
    ("个星期", TimeDelta::try_weeks),
    ("星期", TimeDelta::try_weeks),
    ("周", TimeDelta::try_weeks),
];

/// Day words and how many days before today they mean.
const DAY_WORDS: &[(&str, i64)] = &[("今天", 0), ("今日", 0), ("昨天", 1), ("昨日", 1), ("前天", 2)];

/// English month names, in order (matched case-insensitively on the first three letters).
const MONTH_NAMES: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

type Handler = fn(&Captures<'_>, &Ctx) -> Option<DateTime<Utc>>;

struct Rule {
    /// Matches a whole (trimmed) string, for [`parse_date`].
    whole: Regex,
    /// Matches inside running text, for [`find_date`]; `None` when the form is too vague for that.
    inner: Option<Regex>,
    handler: Handler,
}

impl Rule {
    fn new(whole: &str, inner: Option<&str>, handler: Handler) -> Self {
        Self { whole: compile(&format!("^(?:{whole})$")), inner: inner.map(compile), handler }
    }

    fn everywhere(pattern: &str, handler: Handler) -> Self {
        Self::new(pattern, Some(pattern), handler)
    }
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in date pattern compiles")
}

fn alternation<'a>(words: impl Iterator<Item = &'a str>) -> String {
    words.map(regex::escape).collect::<Vec<_>>().join("|")
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let units = alternation(AGO_UNITS.iter().map(|(word, _)| *word));
    let days = alternation(DAY_WORDS.iter().map(|(word, _)| *word));

    let iso_t_zone = [YMD, "T", ISO_TIME, ZONE].concat();
    let iso_seconds_zone = [YMD, r"\s*", ISO_TIME_SECONDS, ZONE].concat();
    let numeric = [YMD, CN_WEEKDAY, r"(?:(?:T|\s*)", TIME, ")?"].concat();
    let chinese = [CN_YMD, CN_WEEKDAY, r"(?:\s*", TIME, ")?"].concat();
    let rfc2822 = [
        "(?:",
        WEEKDAY,
        r",?\s+)?(?P<d>[0-9]{1,2})\s+",
        MONTH,
        r"\s+(?P<y>[0-9]{4})\s+",
        CLOCK,
        r"(?:\s*(?P<tz>[+-][0-9]{4}|UTC|GMT|UT|Z))?",
    ]
    .concat();
    let weibo = [
        WEEKDAY,
        r"\s+",
        MONTH,
        r"\s+(?P<d>[0-9]{1,2})\s+",
        CLOCK,
        r"\s+(?P<tz>[+-][0-9]{4})\s+(?P<y>[0-9]{4})",
    ]
    .concat();
    let chinese_no_year = [CN_MD, CN_WEEKDAY, r"(?:\s*", TIME, ")?"].concat();
    let no_year = [MD, r"(?:\s+", TIME, ")?"].concat();
    let n_ago = [r"(?P<n>[0-9]{1,9})\s*(?P<unit>", &units, r")\s*[以之]?前"].concat();
    let day = ["(?P<word>", &days, r")(?:\s*", TIME, ")?"].concat();
    let day_with_time = ["(?P<word>", &days, r")\s*", TIME].concat();

    vec![
        Rule::everywhere(&iso_t_zone, calendar),
        Rule::everywhere(&iso_seconds_zone, calendar),
        Rule::everywhere(&numeric, calendar),
        Rule::everywhere(&chinese, calendar),
        Rule::everywhere(&rfc2822, calendar),
        Rule::everywhere(&weibo, calendar),
        Rule::everywhere(&chinese_no_year, calendar),
        Rule::everywhere(&no_year, calendar),
        Rule::everywhere(&n_ago, ago),
        Rule::everywhere(HALF_HOUR_AGO, half_hour_ago),
        Rule::new(&day, Some(&day_with_time), day_word),
        Rule::new(JUST_NOW, None, just_now),
    ]
});

/// A leading label in a field value: `发布时间：`, `日期:`, `更新于 `.
static LABEL: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^(?:发布|发表|更新|出版|创建|上传)?(?:时间|日期|于)\s*:?\s*"));

// ---------------------------------------------------------------------------------------------
// Handlers.
// ---------------------------------------------------------------------------------------------

/// Calendar forms: numeric, Chinese, English; with or without year, time and offset.
fn calendar(c: &Captures<'_>, ctx: &Ctx) -> Option<DateTime<Utc>> {
    let month = match c.name("mon") {
        Some(name) => month_from_name(name.as_str())?,
        None => int(c.name("mo"))?,
    };
    let day: u32 = int(c.name("d"))?;
    let time = time_of(c)?;
    let offset = match c.name("tz") {
        Some(tz) => Some(parse_offset(tz.as_str())?),
        None => None,
    };
    match c.name("y") {
        Some(year) => {
            let date = NaiveDate::from_ymd_opt(year.as_str().parse().ok()?, month, day)?;
            ctx.resolve(date.and_time(time), offset)
        }
        None => ctx.without_year(month, day, time, offset),
    }
}

/// `N分钟前` and friends: that long before `now`.
fn ago(c: &Captures<'_>, ctx: &Ctx) -> Option<DateTime<Utc>> {
    let n: i64 = int(c.name("n"))?;
    let unit = c.name("unit")?.as_str();
    let (_, span) = AGO_UNITS.iter().find(|(word, _)| *word == unit)?;
    ctx.now.checked_sub_signed(span(n)?)
}

fn half_hour_ago(_: &Captures<'_>, ctx: &Ctx) -> Option<DateTime<Utc>> {
    ctx.now.checked_sub_signed(TimeDelta::try_minutes(30)?)
}

fn just_now(_: &Captures<'_>, ctx: &Ctx) -> Option<DateTime<Utc>> {
    Some(ctx.now)
}

/// `今天 12:30`, `昨天`, `前天 08:05`: a local day relative to today, at the given time or midnight.
fn day_word(c: &Captures<'_>, ctx: &Ctx) -> Option<DateTime<Utc>> {
    let word = c.name("word")?.as_str();
    let (_, back) = DAY_WORDS.iter().find(|(w, _)| *w == word)?;
    let date = ctx.today.checked_sub_signed(TimeDelta::try_days(*back)?)?;
    ctx.resolve(date.and_time(time_of(c)?), None)
}

// ---------------------------------------------------------------------------------------------
// Pieces.
// ---------------------------------------------------------------------------------------------

/// What a parse is resolved against: the fetch time and the source's zone.
struct Ctx {
    now: DateTime<Utc>,
    tz: Tz,
    /// `now`'s local date and year in `tz`.
    today: NaiveDate,
    year: i32,
    /// Latest accepted year.
    max_year: i32,
}

impl Ctx {
    fn new(now: DateTime<Utc>, tz: Tz) -> Option<Self> {
        let local = wall_clock(now, tz)?;
        let year = local.year();
        Some(Self { now, tz, today: local.date(), year, max_year: year.saturating_add(1).min(MAX_YEAR) })
    }

    fn year_ok(&self, year: i32) -> bool {
        (MIN_YEAR..=self.max_year).contains(&year)
    }

    /// A wall-clock date-time, read with its own offset if it has one, else in the source's zone.
    fn resolve(&self, local: NaiveDateTime, offset: Option<FixedOffset>) -> Option<DateTime<Utc>> {
        if !self.year_ok(local.year()) {
            return None;
        }
        match offset {
            Some(fixed) => fixed.from_local_datetime(&local).single().map(|dt| dt.with_timezone(&Utc)),
            None => {
                let found = self.tz.from_local_datetime(&local).earliest().or_else(|| {
                    // a wall-clock time skipped by a DST jump: read it as the same time an hour later
                    let later = local.checked_add_signed(TimeDelta::try_hours(1)?)?;
                    self.tz.from_local_datetime(&later).earliest()
                })?;
                Some(found.with_timezone(&Utc))
            }
        }
    }

    /// A year-less date: this year, unless that is more than a day ahead of `now`, then last year.
    fn without_year(
        &self,
        month: u32,
        day: u32,
        time: NaiveTime,
        offset: Option<FixedOffset>,
    ) -> Option<DateTime<Utc>> {
        let limit = self.now.checked_add_signed(TimeDelta::try_days(1)?)?;
        let in_year = |year: i32| {
            NaiveDate::from_ymd_opt(year, month, day)
                .and_then(|date| self.resolve(date.and_time(time), offset))
        };
        match in_year(self.year) {
            Some(found) if found <= limit => Some(found),
            _ => in_year(self.year.checked_sub(1)?),
        }
    }

    /// The final check on every result: its local year must be in range.
    fn accept(&self, found: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let year = wall_clock(found, self.tz)?.year();
        self.year_ok(year).then_some(found)
    }
}

/// The local wall-clock reading of an instant, computed without any panicking conversion.
fn wall_clock(instant: DateTime<Utc>, tz: Tz) -> Option<NaiveDateTime> {
    let utc = instant.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
    utc.checked_add_signed(TimeDelta::try_seconds(i64::from(offset))?)
}

/// The time groups of a match; midnight when there is no time.
fn time_of(c: &Captures<'_>) -> Option<NaiveTime> {
    let Some(hour) = c.name("h") else { return NaiveTime::from_hms_opt(0, 0, 0) };
    let mut hour: u32 = hour.as_str().parse().ok()?;
    let minute: u32 = int(c.name("mi"))?;
    let second: u32 = match c.name("s") {
        Some(s) => s.as_str().parse().ok()?,
        None => 0,
    };
    let nano = match c.name("frac") {
        Some(frac) => nanos(frac.as_str())?,
        None => 0,
    };
    if let Some(part) = c.name("ampm") {
        hour = twenty_four_hour(part.as_str(), hour);
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nano)
}

/// A 12-hour clock reading with its part of the day, on the 24-hour clock.
fn twenty_four_hour(part_of_day: &str, hour: u32) -> u32 {
    match part_of_day {
        "下午" | "晚上" | "傍晚" if hour < 12 => hour + 12,
        "中午" if hour < 11 => hour + 12,
        "凌晨" if hour == 12 => 0,
        _ => hour,
    }
}

/// A decimal fraction of a second (`250` of `.250`) in nanoseconds.
fn nanos(digits: &str) -> Option<u32> {
    let value: u32 = digits.parse().ok()?;
    let missing = 9u32.checked_sub(u32::try_from(digits.len()).ok()?)?;
    value.checked_mul(10u32.checked_pow(missing)?)
}

fn month_from_name(name: &str) -> Option<u32> {
    let index = MONTH_NAMES.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u32::try_from(index + 1).ok()
}

/// `Z`, `UTC`, `GMT`, `UT`, `+0800`, `+08:00`, `-05:30`.
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if ["Z", "UT", "UTC", "GMT"].iter().any(|zero| zero.eq_ignore_ascii_case(s)) {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.strip_prefix('+') {
        Some(rest) => (1, rest),
        None => (-1, s.strip_prefix('-')?),
    };
    let digits: Vec<u32> =
        rest.chars().filter(|c| *c != ':').map(|c| c.to_digit(10)).collect::<Option<_>>()?;
    let &[h1, h2, m1, m2] = digits.as_slice() else { return None };
    let (hours, minutes) = (h1 * 10 + h2, m1 * 10 + m2);
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * i32::try_from(hours * 3600 + minutes * 60).ok()?)
}

/// Unix seconds (10 digits) or milliseconds (13 digits), when that is the whole string.
fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    match s.len() {
        10 => DateTime::from_timestamp(n, 0),
        13 => DateTime::from_timestamp_millis(n),
        _ => None,
    }
}

fn int<T: FromStr>(m: Option<Match<'_>>) -> Option<T> {
    m?.as_str().parse().ok()
}

/// Full-width ASCII to ASCII, odd spaces to a space, odd dashes to `-`, zero-width marks dropped.
fn normalise(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => Some(char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)),
            '\u{3000}' | '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' => Some(' '),
            '\u{2010}'..='\u{2013}' | '\u{2212}' => Some('-'),
            '\u{2236}' => Some(':'),
            '\u{200B}'..='\u{200D}' | '\u{FEFF}' => None,
            _ => Some(c),
        })
        .collect()
}

/// Drops a leading field label (`发布时间：`) from a trimmed value.
fn strip_label(s: &str) -> &str {
    match LABEL.find(s) {
        Some(label) => s.get(label.end()..).unwrap_or(s).trim(),
        None => s,
    }
}

/// Whether a match in running text is not a fragment of a longer number or date
/// (`19-09` inside `2019-09-05`, `6月4日` inside `1989年6月4日`).
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text.get(..start).and_then(|s| s.chars().next_back());
    let after = text.get(end..).and_then(|s| s.chars().next());
    let glued_before = before.is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '/' | '.' | '年'));
    let glued_after = after.is_some_and(|c| c.is_ascii_digit());
    !glued_before && !glued_after
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Europe};
    use proptest::prelude::*;

    const SH: Tz = Asia::Shanghai;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at("2026-11-26T10:00:00+08:00")
    }

    #[test]
    fn patterns_compile() {
        assert_eq!(RULES.len(), 12);
        assert!(LABEL.is_match("发布时间："));
    }

    #[test]
    fn parses_every_format() {
        let cases = [
            // relative
            ("刚刚", "2026-11-26T02:00:00Z"),
            ("刚才", "2026-11-26T02:00:00Z"),
            ("30秒前", "2026-11-26T01:59:30Z"),
            ("5分钟前", "2026-11-26T01:55:00Z"),
            ("5 分钟前", "2026-11-26T01:55:00Z"),
            ("3小时前", "2026-11-25T23:00:00Z"),
            ("3个小时前", "2026-11-25T23:00:00Z"),
            ("2天前", "2026-11-24T02:00:00Z"),
            ("1周前", "2026-11-19T02:00:00Z"),
            ("半小时前", "2026-11-26T01:30:00Z"),
            ("今天 12:30", "2026-11-26T04:30:00Z"),
            ("今天12:30", "2026-11-26T04:30:00Z"),
            ("昨天 12:30", "2026-11-25T04:30:00Z"),
            ("前天 08:05", "2026-11-24T00:05:00Z"),
            ("昨天", "2026-11-24T16:00:00Z"),
            ("昨天 下午3:05", "2026-11-25T07:05:00Z"),
            // year-less
            ("06-14", "2026-06-13T16:00:00Z"),
            ("06-14 12:30", "2026-06-14T04:30:00Z"),
            ("6月14日", "2026-06-13T16:00:00Z"),
            ("6月14日 12:30", "2026-06-14T04:30:00Z"),
            ("11-27", "2026-11-26T16:00:00Z"),
            ("11-28", "2025-11-27T16:00:00Z"),
            // absolute
            ("2017-04-14", "2017-04-13T16:00:00Z"),
            ("2017-4-14 10:20", "2017-04-14T02:20:00Z"),
            ("2017/04/14 10:20:30", "2017-04-14T02:20:30Z"),
            ("2017.04.14", "2017-04-13T16:00:00Z"),
            ("2017年4月14日", "2017-04-13T16:00:00Z"),
            ("2017年4月14日 10:20", "2017-04-14T02:20:00Z"),
            ("2017年04月14日10:20", "2017-04-14T02:20:00Z"),
            ("2017年4月14日 上午10:20", "2017-04-14T02:20:00Z"),
            ("2017年4月14日 下午3:05", "2017-04-14T07:05:00Z"),
            ("2017年4月14日 晚上9:05", "2017-04-14T13:05:00Z"),
            ("2017年4月14日 中午12:10", "2017-04-14T04:10:00Z"),
            ("2017年4月14日 10点20分", "2017-04-14T02:20:00Z"),
            ("2017年4月14日 10时20分30秒", "2017-04-14T02:20:30Z"),
            ("2017年4月14日 星期五 10:20", "2017-04-14T02:20:00Z"),
            ("2017-04-14（周五）10:20", "2017-04-14T02:20:00Z"),
            ("2019-09-08T11:42:03", "2019-09-08T03:42:03Z"),
            ("2019-09-08T11:42:03+08:00", "2019-09-08T03:42:03Z"),
            ("2019-09-08T11:42:03Z", "2019-09-08T11:42:03Z"),
            ("2019-09-08T11:42:03.250+08:00", "2019-09-08T03:42:03.250Z"),
            ("2019-09-08 11:42:03 +0900", "2019-09-08T02:42:03Z"),
            ("2019-09-08T11:42+08:00", "2019-09-08T03:42:00Z"),
            ("2014-06-14 10:20:30 UTC", "2014-06-14T10:20:30Z"),
            ("Sat, 14 Jun 2014 10:20:30 +0800", "2014-06-14T02:20:30Z"),
            ("Sat, 14 Jun 2014 10:20:30 GMT", "2014-06-14T10:20:30Z"),
            ("14 Jun 2014 10:20 +0800", "2014-06-14T02:20:00Z"),
            ("Tue Jun 14 10:20:30 +0800 2016", "2016-06-14T02:20:30Z"),
            ("1560486030", "2019-06-14T04:20:30Z"),
            ("1560486030123", "2019-06-14T04:20:30.123Z"),
            // normalisation and tolerance
            ("２０１７－０４－１４", "2017-04-13T16:00:00Z"),
            ("２０１７－０４－１４　１０：２０", "2017-04-14T02:20:00Z"),
            ("  2017-04-14 10:20 \n", "2017-04-14T02:20:00Z"),
            ("发布时间：2017-04-14 10:20", "2017-04-14T02:20:00Z"),
            ("日期: 2017年4月14日", "2017-04-13T16:00:00Z"),
            ("2027-01-01", "2026-12-31T16:00:00Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_date(input, now(), SH), Some(at(expected)), "input {input:?}");
        }
    }

    #[test]
    fn naive_times_use_the_source_zone() {
        let urumqi = Asia::Urumqi;
        assert_eq!(parse_date("2017-04-14 10:20", now(), urumqi), Some(at("2017-04-14T04:20:00Z")));
        assert_eq!(parse_date("今天 12:30", now(), urumqi), Some(at("2026-11-26T06:30:00Z")));
        // an explicit offset wins over the zone
        assert_eq!(parse_date("2019-09-08T11:42:03+08:00", now(), urumqi), Some(at("2019-09-08T03:42:03Z")));
        // DST: ambiguous takes the earliest, skipped moves an hour on
        let berlin = Europe::Berlin;
        assert_eq!(parse_date("2019-10-27 02:30", now(), berlin), Some(at("2019-10-27T00:30:00Z")));
        assert_eq!(parse_date("2019-03-31 02:30", now(), berlin), Some(at("2019-03-31T01:30:00Z")));
    }

    #[test]
    fn year_less_dates_never_land_far_in_the_future() {
        let january = at("2026-01-05T10:00:00+08:00");
        assert_eq!(parse_date("12-30", january, SH), Some(at("2025-12-29T16:00:00Z")));
        assert_eq!(parse_date("12月30日 08:00", january, SH), Some(at("2025-12-30T00:00:00Z")));
        // tomorrow is within the day of slack; the day after is not
        assert_eq!(parse_date("01-06", january, SH), Some(at("2026-01-05T16:00:00Z")));
        assert_eq!(parse_date("01-07 12:00", january, SH), Some(at("2025-01-07T04:00:00Z")));
        assert_eq!(parse_date("01-05", january, SH), Some(at("2026-01-04T16:00:00Z")));
        // 29 February of a common year falls back to the previous (leap) year
        let march = at("2025-03-01T10:00:00+08:00");
        assert_eq!(parse_date("02-29", march, SH), Some(at("2024-02-28T16:00:00Z")));
        assert_eq!(parse_date("02-29", at("2027-03-01T10:00:00+08:00"), SH), None);
    }

    #[test]
    fn finds_dates_in_text() {
        let cases = [
            ("来源：新华网 2019-09-05 11:10 编辑：张三", Some("2019-09-05T03:10:00Z")),
            ("发布时间：2017年4月14日 10:20", Some("2017-04-14T02:20:00Z")),
            ("发布日期:2017-04-14 来源:人民网", Some("2017-04-13T16:00:00Z")),
            ("时间：２０１７－０４－１４　１０：２０　作者：李四", Some("2017-04-14T02:20:00Z")),
            ("日期：2017/04/14", Some("2017-04-13T16:00:00Z")),
            ("张三 3分钟前 来自 iPhone客户端", Some("2026-11-26T01:57:00Z")),
            ("阅读 1200 | 06-14 12:30 | 评论 5", Some("2026-06-14T04:30:00Z")),
            ("更新于 2019-09-08T11:42:03+08:00。", Some("2019-09-08T03:42:03Z")),
            ("Posted on Sat, 14 Jun 2014 10:20:30 GMT by admin", Some("2014-06-14T10:20:30Z")),
            ("@weibo Tue Jun 14 10:20:30 +0800 2016 via web", Some("2016-06-14T02:20:30Z")),
            ("昨天 12:30 发布", Some("2026-11-25T04:30:00Z")),
            ("编号 2017-13-01 发布 2018-01-02", Some("2018-01-01T16:00:00Z")),
            ("2018-01-02 转载自 2017-04-14 的文章", Some("2018-01-01T16:00:00Z")),
            ("会议时间：2019-09-05 14:00-16:00", Some("2019-09-05T06:00:00Z")),
            ("2019年9月5日 星期四 来源：人民日报", Some("2019-09-04T16:00:00Z")),
            ("1989年6月4日", None),
            ("我昨天去了，刚刚回来", None),
            ("浏览 12345 次", None),
            ("1560486030", None),
            ("电话 010-6514-1234", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(find_date(input, now(), SH), expected.map(at), "input {input:?}");
        }
    }

    #[test]
    fn rejects_invalid_values() {
        let cases = [
            "",
            "   ",
            "hello",
            "12345",
            "123456789012",
            "0000000000",
            "2017-13-01",
            "2017-00-10",
            "2017-04-32",
            "2017-02-30",
            "2017-04-14 25:00",
            "2017-04-14 10:60",
            "2017-04-14 10:20:61",
            "2017年13月1日",
            "2017年2月30日",
            "13-01",
            "02-30",
            "昨天 25:00",
            "1989-06-04",
            "2028-01-01",
            "2019-09-08T11:42:03+25:00",
            "Sat, 14 Foo 2014 10:20:30 +0800",
            "99999天前",
            "下午",
            "2017-04-14 extra",
        ];
        for input in cases {
            assert_eq!(parse_date(input, now(), SH), None, "input {input:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(s in any::<String>()) {
            let _ = parse_date(&s, now(), SH);
            let _ = find_date(&s, now(), SH);
        }

        #[test]
        fn date_like_text_stays_in_range(
            s in "[0-9０-９年月日号时点分秒前天刚今昨上下午晚半小钟个TZ:：/. +\\-]{0,32}"
        ) {
            for found in [parse_date(&s, now(), SH), find_date(&s, now(), SH)].into_iter().flatten() {
                let year = wall_clock(found, SH).expect("in range").year();
                prop_assert!((1990..=2027).contains(&year), "{s:?} gave {found}");
            }
        }

        #[test]
        fn never_panics_at_any_now(secs in -8_300_000_000_000i64..8_300_000_000_000, s in "\\PC{0,24}") {
            if let Some(now) = DateTime::from_timestamp(secs, 0) {
                for tz in [SH, Asia::Urumqi, Europe::Berlin, America::New_York] {
                    let _ = parse_date(&s, now, tz);
                    let _ = find_date(&s, now, tz);
                    let _ = parse_date("前天 08:05", now, tz);
                    let _ = parse_date("12-31 23:59", now, tz);
                    let _ = find_date("99天前", now, tz);
                }
            }
        }

        #[test]
        fn numeric_and_chinese_forms_round_trip(
            y in 1990i32..=2026, m in 1u32..=12, d in 1u32..=28, h in 0u32..24, mi in 0u32..60,
        ) {
            let expected = SH.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("valid").with_timezone(&Utc);
            for s in [format!("{y}-{m:02}-{d:02} {h:02}:{mi:02}"), format!("{y}年{m}月{d}日 {h}:{mi:02}")] {
                prop_assert_eq!(parse_date(&s, now(), SH), Some(expected));
                prop_assert_eq!(find_date(&format!("来源：新华网 {s} 编辑：张三"), now(), SH), Some(expected));
            }
        }
    }
}
