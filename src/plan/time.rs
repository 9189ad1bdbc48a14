//! Run time as RFC 3339 and `strftime`-style dates, without a date library (UTC only).

/// Splits unix seconds into (year, month, day, hour, minute, second), UTC.
pub fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
    )
}

/// `2020-01-10T00:30:00.000Z`: the format docker/metadata-action writes (`Date.toISOString`).
pub fn rfc3339_millis(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")
}

/// A `strftime` subset: `%Y %m %d %H %M %S %y %j %s %%`. Anything else is an error.
pub fn format(unix: i64, pattern: &str) -> Result<String, String> {
    let (y, mo, d, h, mi, s) = civil(unix);
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{mo:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{mi:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('j') => {
                let (start, ..) = (civil_to_unix(y, 1, 1), ());
                out.push_str(&format!("{:03}", (unix - start).div_euclid(86_400) + 1));
            }
            Some('s') => out.push_str(&unix.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                return Err(format!(
                    "`%{other}` is not supported (use %Y %m %d %H %M %S %y %j %s)"
                ));
            }
            None => return Err("a date pattern cannot end with `%`".into()),
        }
    }
    Ok(out)
}

fn civil_to_unix(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era - 719_468) * 86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_action_created_format() {
        // metadata-action's fixture time.
        assert_eq!(rfc3339_millis(1_578_616_200), "2020-01-10T00:30:00.000Z");
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(1_766_836_944), "2025-12-27T12:02:24.000Z");
        assert_eq!(rfc3339_millis(951_782_400), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn strftime_subset() {
        assert_eq!(format(1_578_616_200, "%Y%m%d").unwrap(), "20200110");
        assert_eq!(
            format(1_578_616_200, "%Y-%m-%dT%H%M%S").unwrap(),
            "2020-01-10T003000"
        );
        assert_eq!(format(1_578_616_200, "%j").unwrap(), "010");
        assert!(format(0, "%Q").is_err());
        assert_eq!(civil_to_unix(2020, 1, 10), 1_578_614_400);
    }
}
