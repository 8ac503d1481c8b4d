//! The official working-day calendar: weekends, statutory holidays and weekend make-up working
//! days (调休), loaded from data files, and deadline arithmetic in working days.
//!
//! The data is one CSV file per year in `config/calendar/` (`2024.csv`), transcribed from the
//! State Council's annual holiday notices; a directory may also hold files spanning several years
//! (any `*.csv`: the header names the columns, `date` and `kind` are required, extra columns are
//! ignored). A year is known only when a file covers it: a date of any other year is an error that
//! names the year, never a weekday guess (the 2025 change to the holiday law is why no rule can
//! stand in for the notices).
//!
//! Counting follows 民法典 arts. 201 and 203 as administrative practice applies them to working
//! days: the starting day is not counted, the period ends at 24:00 of its last day, and a period
//! whose last day is a rest day ends on the next working day instead — counting working days, the
//! last day is a working day by construction.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Weekday};

/// Beijing time, the offset every deadline is stated in.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// A moment in Beijing time.
pub fn in_beijing<Tz: TimeZone>(t: &DateTime<Tz>) -> DateTime<FixedOffset> {
    t.with_timezone(&beijing())
}

/// What a date is under the official calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// Monday to Friday, no holiday.
    Workday,
    /// Saturday or Sunday, no make-up work.
    Weekend,
    /// A day off of a statutory holiday block (whatever its weekday).
    Holiday,
    /// A Saturday or Sunday worked in exchange for a holiday day (调休).
    MakeupWorkday,
}

impl DayKind {
    pub fn is_working(self) -> bool {
        matches!(self, DayKind::Workday | DayKind::MakeupWorkday)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Workday => "workday",
            DayKind::Weekend => "weekend",
            DayKind::Holiday => "holiday",
            DayKind::MakeupWorkday => "makeup-workday",
        }
    }
}

impl fmt::Display for DayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the calendar could not be loaded or could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "the calendar has no data for {year} (known years: {known}); add config/calendar/{year}.csv from the State Council's holiday notice"
    )]
    YearNotCovered { year: i32, known: String },
    #[error("{file}:{line}: {message}")]
    Data { file: String, line: u64, message: String },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("a deadline beyond the year 9999 cannot be computed")]
    OutOfRange,
}

#[derive(Debug, Clone)]
struct Special {
    kind: DayKind,
    name: String,
}

/// The loaded calendar. Cheap to query; immutable once built.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeSet<i32>,
    special: BTreeMap<NaiveDate, Special>,
}

impl Calendar {
    /// Builds a calendar from `(file name, text)` pairs, as read from a calendar directory.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Calendar, CalendarError> {
        let mut cal = Calendar::default();
        for (name, text) in files {
            cal.add_file(name, text)?;
        }
        Ok(cal)
    }

    /// Adds one CSV file. A file named `YYYY.csv` covers that year and may hold only its dates;
    /// any other file covers the years its rows fall in.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), CalendarError> {
        let stem = file.rsplit(['/', '\\']).next().unwrap_or(file);
        let stem = stem.strip_suffix(".csv").unwrap_or(stem);
        let file_year: Option<i32> = (stem.len() == 4 && stem.bytes().all(|b| b.is_ascii_digit()))
            .then(|| stem.parse().ok())
            .flatten();
        let data_err =
            |line: u64, message: String| CalendarError::Data { file: file.to_owned(), line, message };
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| CalendarError::File { file: file.to_owned(), message: e.to_string() })?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (Some(date_col), Some(kind_col)) = (col("date"), col("kind")) else {
            return Err(CalendarError::File {
                file: file.to_owned(),
                message: format!(
                    "the header must name `date` and `kind` columns (found: {})",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            });
        };
        let name_col = col("name_zh").or_else(|| col("name"));
        let mut rows = 0usize;
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                data_err(line, e.to_string())
            })?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let raw_date = record.get(date_col).unwrap_or("");
            let date = NaiveDate::parse_from_str(raw_date, "%Y-%m-%d")
                .map_err(|_| data_err(line, format!("`{raw_date}` is not a YYYY-MM-DD date")))?;
            let raw_kind = record.get(kind_col).unwrap_or("");
            let kind = match raw_kind {
                "holiday" => DayKind::Holiday,
                "workday-makeup" | "makeup-workday" => DayKind::MakeupWorkday,
                other => {
                    return Err(data_err(
                        line,
                        format!("kind `{other}` is not `holiday` or `workday-makeup`"),
                    ));
                }
            };
            if kind == DayKind::MakeupWorkday && !is_weekend(date) {
                return Err(data_err(
                    line,
                    format!(
                        "{date} is a {}, not a weekend day: it cannot be a make-up working day",
                        date.weekday()
                    ),
                ));
            }
            if let Some(y) = file_year
                && date.year() != y
            {
                return Err(data_err(
                    line,
                    format!("{date} is not in {y}, the year this file is named after"),
                ));
            }
            let name = name_col.and_then(|c| record.get(c)).unwrap_or("").to_owned();
            if let Some(prev) = self.special.get(&date)
                && prev.kind != kind
            {
                return Err(data_err(line, format!("{date} is listed as both {} and {}", prev.kind, kind)));
            }
            self.special.insert(date, Special { kind, name });
            self.years.insert(date.year());
            rows += 1;
        }
        match file_year {
            Some(y) => {
                self.years.insert(y);
            }
            None if rows == 0 => {
                return Err(CalendarError::File {
                    file: file.to_owned(),
                    message: "no rows, and the file is not named after a year (YYYY.csv)".into(),
                });
            }
            None => {}
        }
        Ok(())
    }

    /// The years the calendar knows, ascending.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    fn known(&self) -> String {
        // Contiguous runs, e.g. "2004-2016, 2017-2026" collapses to "2004-2026".
        let mut runs: Vec<(i32, i32)> = Vec::new();
        for &y in &self.years {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == y => *end = y,
                _ => runs.push((y, y)),
            }
        }
        if runs.is_empty() {
            return "none".into();
        }
        runs.iter()
            .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What `date` is. A date in a year without data is an error naming the year.
    pub fn day(&self, date: NaiveDate) -> Result<DayKind, CalendarError> {
        if !self.covers(date.year()) {
            return Err(CalendarError::YearNotCovered { year: date.year(), known: self.known() });
        }
        Ok(match self.special.get(&date) {
            Some(s) => s.kind,
            None if is_weekend(date) => DayKind::Weekend,
            None => DayKind::Workday,
        })
    }

    /// The holiday a date belongs to (or the holiday a make-up day pays for), as the data names it.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<&str> {
        self.special.get(&date).map(|s| s.name.as_str()).filter(|n| !n.is_empty())
    }

    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        Ok(self.day(date)?.is_working())
    }

    /// The `n`th working day after `date` (the starting day is not counted); `n == 0` is the first
    /// working day on or after `date`.
    pub fn working_days_after(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut d = date;
        if n == 0 {
            while !self.is_working_day(d)? {
                d = d.succ_opt().ok_or(CalendarError::OutOfRange)?;
            }
            return Ok(d);
        }
        let mut left = n;
        while left > 0 {
            d = d.succ_opt().ok_or(CalendarError::OutOfRange)?;
            if self.is_working_day(d)? {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// The deadline of a period of `n` working days started at `start`: the end (23:59:59 Beijing
    /// time) of the `n`th working day after the starting day, which is not counted.
    ///
    /// Started Fri 2024-09-27 10:00 with 3 working days: Sun 09-29 (make-up day) is day 1, Mon
    /// 09-30 day 2, Tue 10-08 day 3 → `2024-10-08T23:59:59+08:00`.
    pub fn working_days_deadline<Tz: TimeZone>(
        &self,
        start: &DateTime<Tz>,
        n: u32,
    ) -> Result<DateTime<FixedOffset>, CalendarError> {
        let local = start.with_timezone(&beijing());
        let last = self.working_days_after(local.date_naive(), n)?;
        Ok(end_of_day(last))
    }

    /// Working days strictly after `from`'s date up to and including `to`'s date (0 when `to` is
    /// not later). Used for "working days left" and performance figures.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<u32, CalendarError> {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d = d.succ_opt().ok_or(CalendarError::OutOfRange)?;
            if self.is_working_day(d)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// 23:59:59 of `date` in Beijing time: a period "ends at 24:00 of its last day".
pub fn end_of_day(date: NaiveDate) -> DateTime<FixedOffset> {
    let t = date.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
    beijing().from_local_datetime(&t).single().expect("a fixed offset has one local time")
}

/// A wall-clock period: `start + minutes`.
pub fn hours_deadline<Tz: TimeZone>(start: &DateTime<Tz>, minutes: u32) -> DateTime<FixedOffset> {
    start.with_timezone(&beijing()) + Duration::minutes(i64::from(minutes))
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}
