//! Office hours: when officials are at their desks. Outside them only the officials on night duty
//! are woken, and only for events at the configured level or above. Legal clocks never pause for
//! them (cases count working days on their own calendar).

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::config::parse_time;

/// Office windows in a time zone, on given weekdays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    pub tz: Tz,
    pub days: Vec<Weekday>,
    /// `[start, end)` local times, sorted, not overlapping.
    pub windows: Vec<(NaiveTime, NaiveTime)>,
}

impl OfficeHours {
    /// Xinjiang's office hours, in Beijing time: 10:00–13:30 and 15:30–19:30, Monday to Friday.
    pub fn xinjiang_default() -> OfficeHours {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        OfficeHours {
            tz: chrono_tz::Asia::Shanghai,
            days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            windows: vec![(t(10, 0), t(13, 30)), (t(15, 30), t(19, 30))],
        }
    }

    pub fn parse(tz: &str, days: &[String], windows: &[String]) -> Result<OfficeHours, String> {
        let tz: Tz = tz.parse().map_err(|_| format!("unknown time zone {tz:?}"))?;
        let mut ds = Vec::new();
        for d in days {
            let wd: Weekday = d.parse().map_err(|_| format!("{d:?} is not a weekday (mon … sun)"))?;
            ds.push(wd);
        }
        let mut ws = Vec::new();
        for w in windows {
            let (a, b) = w.split_once('-').ok_or_else(|| format!("window {w:?} is not HH:MM-HH:MM"))?;
            let (a, b) = match (parse_time(a), parse_time(b)) {
                (Some(a), Some(b)) if a < b => (a, b),
                _ => return Err(format!("window {w:?} is not HH:MM-HH:MM with start before end")),
            };
            ws.push((a, b));
        }
        ws.sort();
        if ws.windows(2).any(|p| p[0].1 > p[1].0) {
            return Err("office windows overlap".into());
        }
        if ds.is_empty() || ws.is_empty() {
            return Err("office hours need at least one day and one window".into());
        }
        Ok(OfficeHours { tz, days: ds, windows: ws })
    }

    /// Whether `at` falls inside office hours.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        self.days.contains(&local.weekday())
            && self.windows.iter().any(|(a, b)| local.time() >= *a && local.time() < *b)
    }

    /// `at` itself when inside office hours, else the start of the next window.
    pub fn next_open(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(at) {
            return at;
        }
        let local = at.with_timezone(&self.tz);
        for day in 0..8 {
            let date = local.date_naive() + Duration::days(day);
            if !self.days.contains(&date.weekday()) {
                continue;
            }
            for (start, _) in &self.windows {
                // A local time that does not exist (a DST gap) takes the earliest valid mapping.
                if let Some(t) = self.tz.from_local_datetime(&date.and_time(*start)).earliest() {
                    let t = t.with_timezone(&Utc);
                    if t > at {
                        return t;
                    }
                }
            }
        }
        at
    }
}
