//! The SigV4 `X-Amz-Date` format (`yyyymmddThhmmssZ`, UTC), parsed strictly and formatted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `yyyymmddThhmmssZ`; anything else (other lengths, separators, out-of-range fields,
/// dates before 1970) is `None`.
pub(crate) fn parse(value: &str) -> Option<SystemTime> {
    let bytes = value.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let field = &bytes[range];
        if !field.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(field.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Formats as `yyyymmddThhmmssZ`, truncating sub-second precision like the signer does.
/// Times before 1970 format as the epoch.
pub(crate) fn format(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`, restricted to years >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        for (text, secs) in [
            ("19700101T000000Z", 0),
            ("20000229T235959Z", 951_868_799),
            ("20261122T103000Z", 1_795_343_400),
        ] {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse(text), Some(time), "{text}");
            assert_eq!(format(time), text);
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for text in [
            "",
            "20261122T103000",
            "20261122 103000Z",
            "2026-11-22T10:30:00Z",
            "20261322T103000Z",
            "20260230T103000Z",
            "20261122T243000Z",
            "20261122T106000Z",
            "19691231T235959Z",
            "2026112aT103000Z",
            "+0261122T103000Z",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
