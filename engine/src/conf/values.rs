//! nginx's value syntaxes: numbers, sizes, offsets and times, as `ngx_parse.c` reads them.

/// nginx: ngx_atoi (non-negative decimal, no sign, no overflow).
pub(crate) fn atoi(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(v)
}

/// nginx: ngx_parse_size (`k`/`m` suffixes).
pub(crate) fn parse_size(s: &[u8]) -> Option<u64> {
    parse_scaled(s, &[(b'k', 1 << 10), (b'm', 1 << 20)])
}

/// nginx: ngx_parse_offset (`k`/`m`/`g` suffixes).
pub(crate) fn parse_offset(s: &[u8]) -> Option<u64> {
    parse_scaled(s, &[(b'k', 1 << 10), (b'm', 1 << 20), (b'g', 1 << 30)])
}

fn parse_scaled(s: &[u8], units: &[(u8, u64)]) -> Option<u64> {
    let (&last, _) = s.split_last()?;
    let (digits, scale) = match units.iter().find(|(u, _)| last.to_ascii_lowercase() == *u) {
        Some(&(_, scale)) => (&s[..s.len() - 1], scale),
        None => (s, 1),
    };
    let v = u64::try_from(atoi(digits)?).ok()?;
    let max = (i64::MAX as u64) / scale;
    (v <= max).then_some(v * scale)
}

/// nginx: ngx_parse_time. Returns seconds when `is_sec`, else milliseconds.
pub(crate) fn parse_time(s: &[u8], is_sec: bool) -> Option<i64> {
    #[derive(PartialEq, PartialOrd, Clone, Copy)]
    enum Step {
        Start,
        Year,
        Month,
        Week,
        Day,
        Hour,
        Min,
        Sec,
        Msec,
        Last,
    }
    const MAX: i64 = i64::MAX;
    let mut step = if is_sec { Step::Start } else { Step::Month };
    let (mut value, mut total, mut valid) = (0i64, 0i64, false);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            valid = true;
            continue;
        }
        let (next, unit): (Step, i64) = match c {
            b'y' if step <= Step::Start => (Step::Year, 60 * 60 * 24 * 365),
            b'M' if step < Step::Month => (Step::Month, 60 * 60 * 24 * 30),
            b'w' if step < Step::Week => (Step::Week, 60 * 60 * 24 * 7),
            b'd' if step < Step::Day => (Step::Day, 60 * 60 * 24),
            b'h' if step < Step::Hour => (Step::Hour, 60 * 60),
            b'm' if s.get(i) == Some(&b's') => {
                if is_sec || step >= Step::Msec {
                    return None;
                }
                i += 1;
                (Step::Msec, 1)
            }
            b'm' if step < Step::Min => (Step::Min, 60),
            b's' if step < Step::Sec => (Step::Sec, 1),
            b' ' if step < Step::Sec => (Step::Last, 1),
            _ => return None,
        };
        step = next;
        let (mut scale, mut max) = (unit, MAX / unit);
        if step != Step::Msec && !is_sec {
            scale *= 1000;
            max /= 1000;
        }
        if value > max {
            return None;
        }
        value *= scale;
        if total > MAX - value {
            return None;
        }
        total += value;
        value = 0;
        while s.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        if value > MAX / 1000 {
            return None;
        }
        value *= 1000;
    }
    if total > MAX - value {
        return None;
    }
    Some(total + value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, v) in [
            ("0", Some(0)),
            ("10k", Some(10240)),
            ("1M", Some(1 << 20)),
            ("1g", None),
            ("", None),
            ("k", None),
            ("-1", None),
            ("1.5k", None),
        ] {
            assert_eq!(parse_size(s.as_bytes()), v, "{s}");
        }
        assert_eq!(parse_offset(b"2G"), Some(2 << 30));
    }

    #[test]
    fn times() {
        for (s, sec, v) in [
            ("30s", true, Some(30)),
            ("30", true, Some(30)),
            ("1h 30m", true, Some(5400)),
            ("1y", true, Some(31_536_000)),
            ("1y", false, None),
            ("500ms", false, Some(500)),
            ("500ms", true, None),
            ("60", false, Some(60_000)),
            ("1m1h", true, None),
            ("s", true, None),
            ("", true, None),
            ("1x", true, None),
        ] {
            assert_eq!(parse_time(s.as_bytes(), sec), v, "{s} {sec}");
        }
    }
}
