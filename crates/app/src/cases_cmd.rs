//! `yuqing calendar …`: the working-day calendar and deadline arithmetic.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use yuqing_cases::calendar::{Calendar, beijing, hours_deadline};

use crate::resources;

#[derive(Debug, clap::Subcommand)]
pub enum CalendarCommand {
    /// One line per date: `YYYY-MM-DD <kind>` with kind workday, weekend, holiday or
    /// makeup-workday.
    Days(DaysArgs),
    /// The deadline of a period started at a moment: `--working-days N` (the starting day is not
    /// counted; ends 23:59:59 Beijing time of the last working day) or `--hours N` (wall clock).
    Deadline(DeadlineArgs),
}

#[derive(Debug, clap::Args)]
pub struct CalendarDir {
    /// Folder of calendar CSV files (default: the configuration's `calendar/`, else the copy
    /// built into the binary). Files are read at every start: a new year needs no rebuild.
    #[arg(long)]
    calendar_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DaysArgs {
    #[arg(long)]
    from: NaiveDate,
    #[arg(long)]
    to: NaiveDate,
    #[command(flatten)]
    dir: CalendarDir,
}

#[derive(Debug, clap::Args)]
pub struct DeadlineArgs {
    /// `YYYY-MM-DD HH:MM` in Beijing time, or RFC 3339 with an offset.
    #[arg(long)]
    start: String,
    #[arg(long, conflicts_with = "hours", required_unless_present = "hours")]
    working_days: Option<u32>,
    #[arg(long)]
    hours: Option<u32>,
    #[command(flatten)]
    dir: CalendarDir,
}

/// Loads the calendar: `--calendar-dir` (which must exist), else `<config>/calendar`, else
/// `./config/calendar`, else the copy built into the binary (a configuration folder without a
/// `calendar/` gets the built-in years, with a warning).
pub fn load_calendar(config_dir: Option<&Path>, calendar_dir: Option<&Path>) -> Result<Calendar> {
    let dir = match (calendar_dir, config_dir) {
        (Some(d), _) => Some(d.to_path_buf()),
        (None, Some(c)) => {
            let d = c.join("calendar");
            if !d.is_dir() {
                tracing::warn!(folder = %c.display(), "no calendar/ in the configuration folder: using the built-in calendar");
            }
            Some(d).filter(|d| d.is_dir())
        }
        (None, None) => Some(PathBuf::from("config/calendar")).filter(|p| p.is_dir()),
    };
    let Some(dir) = dir else {
        return Calendar::from_files(resources::embedded_calendar().iter().copied())
            .context("the embedded calendar");
    };
    if !dir.is_dir() {
        bail!("calendar folder {} does not exist", dir.display());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "csv") {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            files.push((path.display().to_string(), text));
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("calendar folder {} holds no .csv files", dir.display());
    }
    Ok(Calendar::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))?)
}

/// `2024-09-27 10:00` (Beijing time) or RFC 3339.
pub fn parse_moment(s: &str) -> Result<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t);
    }
    for f in ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s.trim(), f) {
            return beijing().from_local_datetime(&t).single().context("ambiguous local time");
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return beijing()
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .single()
            .context("ambiguous local time");
    }
    bail!("`{s}` is not a time: use `YYYY-MM-DD HH:MM` (Beijing time) or RFC 3339")
}

pub fn calendar(config_dir: Option<&Path>, cmd: &CalendarCommand) -> Result<()> {
    use std::io::Write;
    match cmd {
        CalendarCommand::Days(a) => {
            if a.to < a.from {
                bail!("--to {} is before --from {}", a.to, a.from);
            }
            let cal = load_calendar(config_dir, a.dir.calendar_dir.as_deref())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut d = a.from;
            while d <= a.to {
                writeln!(out, "{d} {}", cal.day(d)?)?;
                d = d.succ_opt().context("date out of range")?;
            }
            out.flush()?;
        }
        CalendarCommand::Deadline(a) => {
            let start = parse_moment(&a.start)?;
            let due = match (a.working_days, a.hours) {
                (Some(n), _) => load_calendar(config_dir, a.dir.calendar_dir.as_deref())?
                    .working_days_deadline(&start, n)?,
                (None, Some(h)) => hours_deadline(&start, h.checked_mul(60).context("--hours too large")?),
                (None, None) => bail!("give --working-days N or --hours N"),
            };
            println!("{}", due.to_rfc3339());
        }
    }
    Ok(())
}
