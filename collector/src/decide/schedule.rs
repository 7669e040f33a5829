//! Calendars, evaluated at an instant: whether a maintenance window is open (and until when), and whether a
//! webhook's quiet hours are on (and until when). Local times are read in the window's named time zone
//! (daylight saving included: a window starting in a skipped hour starts when the clock resumes). Pure.

use crate::config::{LocalTime, Maintenance, MaintenanceWhen, QuietHours, Zone};
use jiff::civil::Date;
use jiff::{Timestamp, ZonedDateTime};

fn zoned(now_ms: u64, zone: &Zone) -> Option<ZonedDateTime> {
    let ts = Timestamp::from_millisecond(i64::try_from(now_ms).ok()?).ok()?;
    Some(ts.to_zoned_datetime(zone.tz.clone()))
}

/// The instant (unix ms) of `at` local time on `date` in `zone`.
fn instant(date: Date, at: LocalTime, zone: &Zone) -> Option<u64> {
    let z = date.at(at.hour, at.minute, 0, 0).to_zoned_datetime(zone.tz.clone()).ok()?;
    u64::try_from(z.timestamp().as_millisecond()).ok()
}

/// When maintenance window `m` that is open at `now_ms` ends; `None` when it is not open.
pub fn maintenance_until(m: &Maintenance, now_ms: u64) -> Option<u64> {
    match &m.when {
        MaintenanceWhen::Once { from_ms, until_ms } => (*from_ms <= now_ms && now_ms < *until_ms).then_some(*until_ms),
        MaintenanceWhen::Weekly { days, start, duration, zone } => {
            let today = zoned(now_ms, zone)?.date();
            let len = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
            // A window started at most 7 days ago (its longest) may still be open.
            let mut end = None;
            let mut d = today;
            for _ in 0..=7 {
                let weekday = usize::try_from(d.weekday().to_monday_zero_offset()).unwrap_or(0);
                if days.get(weekday).copied().unwrap_or(false)
                    && let Some(from) = instant(d, *start, zone)
                {
                    let until = from.saturating_add(len);
                    if from <= now_ms && now_ms < until {
                        end = end.max(Some(until));
                    }
                }
                d = d.yesterday().ok()?;
            }
            end
        }
    }
}

/// The next time window `m` opens after `now_ms` (within two weeks), for the status page.
pub fn maintenance_next(m: &Maintenance, now_ms: u64) -> Option<u64> {
    match &m.when {
        MaintenanceWhen::Once { from_ms, .. } => (*from_ms > now_ms).then_some(*from_ms),
        MaintenanceWhen::Weekly { days, start, zone, .. } => {
            let mut d = zoned(now_ms, zone)?.date();
            for _ in 0..=14 {
                let weekday = usize::try_from(d.weekday().to_monday_zero_offset()).unwrap_or(0);
                if days.get(weekday).copied().unwrap_or(false)
                    && let Some(from) = instant(d, *start, zone)
                    && from > now_ms
                {
                    return Some(from);
                }
                d = d.tomorrow().ok()?;
            }
            None
        }
    }
}

fn minutes(t: LocalTime) -> i32 {
    i32::from(t.hour) * 60 + i32::from(t.minute)
}

/// When the quiet hours `q` that are on at `now_ms` end; `None` when they are not on.
pub fn quiet_until(q: &QuietHours, now_ms: u64) -> Option<u64> {
    let z = zoned(now_ms, &q.zone)?;
    let t = i32::from(z.hour()) * 60 + i32::from(z.minute());
    let (s, e) = (minutes(q.start), minutes(q.end));
    let on = if s < e { s <= t && t < e } else { t >= s || t < e };
    if !on {
        return None;
    }
    let today = z.date();
    let day = if t < e { today } else { today.tomorrow().ok()? };
    instant(day, q.end, &q.zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_zone;
    use std::time::Duration;

    fn at(s: &str) -> u64 {
        crate::config::parse_instant(s).unwrap()
    }

    fn weekly(days: [bool; 7], start: &str, hours: u64, tz: &str) -> Maintenance {
        Maintenance {
            name: "w".into(),
            services: vec![],
            when: MaintenanceWhen::Weekly {
                days,
                start: crate::config::parse_local_time(start).unwrap(),
                duration: Duration::from_secs(hours * 3600),
                zone: parse_zone(tz).unwrap(),
            },
        }
    }

    #[test]
    fn a_weekly_window_is_open_in_its_local_time_and_over_midnight() {
        // Saturdays 23:00 Berlin for 3 h; 2025-11-29 is a Saturday (CET, UTC+1).
        let sat = [false, false, false, false, false, true, false];
        let m = weekly(sat, "23:00", 3, "Europe/Berlin");
        assert_eq!(maintenance_until(&m, at("2025-11-29T21:59:59Z")), None);
        assert_eq!(maintenance_until(&m, at("2025-11-29T22:00:00Z")), Some(at("2025-11-30T01:00:00Z")));
        assert_eq!(maintenance_until(&m, at("2025-11-30T00:59:59Z")), Some(at("2025-11-30T01:00:00Z")), "Sunday 01:59");
        assert_eq!(maintenance_until(&m, at("2025-11-30T01:00:00Z")), None);
        assert_eq!(maintenance_until(&m, at("2025-12-06T22:30:00Z")), Some(at("2025-12-07T01:00:00Z")), "a week on");
        assert_eq!(maintenance_next(&m, at("2025-11-30T01:00:00Z")), Some(at("2025-12-06T22:00:00Z")));
        // Summer time: the same local start is an hour earlier in UTC.
        assert_eq!(maintenance_until(&m, at("2025-07-05T21:00:00Z")), Some(at("2025-07-06T00:00:00Z")));
    }

    #[test]
    fn a_one_off_window_is_half_open() {
        let m = Maintenance {
            name: "o".into(),
            services: vec!["be".into()],
            when: MaintenanceWhen::Once { from_ms: 1_000, until_ms: 2_000 },
        };
        assert_eq!(
            [999, 1_000, 1_999, 2_000].map(|t| maintenance_until(&m, t)),
            [None, Some(2_000), Some(2_000), None]
        );
        assert_eq!((maintenance_next(&m, 500), maintenance_next(&m, 1_500)), (Some(1_000), None));
    }

    #[test]
    fn quiet_hours_over_midnight_end_at_their_next_end() {
        let q = QuietHours {
            start: crate::config::parse_local_time("22:00").unwrap(),
            end: crate::config::parse_local_time("07:00").unwrap(),
            zone: parse_zone("America/New_York").unwrap(),
        };
        // 2025-11-30 is EST (UTC-5): 22:00 local = 03:00Z next day.
        assert_eq!(quiet_until(&q, at("2025-12-01T02:59:00Z")), None);
        assert_eq!(quiet_until(&q, at("2025-12-01T03:00:00Z")), Some(at("2025-12-01T12:00:00Z")));
        assert_eq!(quiet_until(&q, at("2025-12-01T11:59:59Z")), Some(at("2025-12-01T12:00:00Z")));
        assert_eq!(quiet_until(&q, at("2025-12-01T12:00:00Z")), None);
        let day = QuietHours { start: q.end, end: q.start, zone: parse_zone("UTC").unwrap() };
        assert_eq!(quiet_until(&day, at("2025-12-01T12:00:00Z")), Some(at("2025-12-01T22:00:00Z")));
        assert_eq!(quiet_until(&day, at("2025-12-01T23:00:00Z")), None);
    }
}
