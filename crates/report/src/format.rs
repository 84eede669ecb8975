//! Number formatting and escaping shared by the HTML and Markdown writers and the charts.

/// Significant digits of the numbers in report tables (documented in the report crate's docs).
pub(crate) const TABLE_DIGITS: usize = 4;

/// `x` with `digits` significant digits, trailing zeros kept: `sig(0.646056, 4) == "0.6461"`.
pub(crate) fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x == 0.0 { "0".to_string() } else { x.to_string() };
    }
    let magnitude = x.abs().log10().floor() as i64;
    let decimals = (digits as i64 - 1 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.starts_with("-0") && text.trim_start_matches(['-', '0', '.']).is_empty() {
        return text[1..].to_string();
    }
    text
}

/// `x` for prose: 3 significant digits, trailing zeros dropped (`0.7`, `13`, `1.69`).
pub(crate) fn human(x: f64) -> String {
    let text = sig(x, 3);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// An improvement factor with one decimal: `5.6×`.
pub(crate) fn factor(x: f64) -> String {
    if x >= 100.0 { format!("{x:.0}×") } else { format!("{x:.1}×") }
}

/// A duration in words: `41.2 s`, `3 min 5 s`.
pub(crate) fn duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{} s", human(seconds))
    } else if seconds < 7200.0 {
        let minutes = (seconds / 60.0).floor();
        format!("{} min {:.0} s", minutes, seconds - minutes * 60.0)
    } else {
        let hours = (seconds / 3600.0).floor();
        format!("{} h {:.0} min", hours, (seconds - hours * 3600.0) / 60.0)
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown prose and table cells.
pub(crate) fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A short prefix of a hex digest for tables (the full digest goes in a tooltip or code span).
pub(crate) fn short_hash(hash: &str) -> String {
    hash.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_sig(x: f64, digits: usize, expected: &str) {
        assert_eq!(sig(x, digits), expected, "sig({x}, {digits})");
    }

    #[test]
    fn significant_digits() {
        check_sig(0.646056, 4, "0.6461");
        check_sig(129768.0 / 1e6, 4, "0.1298");
        check_sig(1686.568, 4, "1687");
        check_sig(0.8, 4, "0.8000");
        check_sig(-0.0123456, 3, "-0.0123");
        check_sig(0.0, 4, "0");
        check_sig(-0.000001, 1, "-0.000001");
    }

    #[test]
    fn human_numbers_drop_trailing_zeros() {
        assert_eq!(human(0.7), "0.7");
        assert_eq!(human(13.0), "13");
        assert_eq!(human(1.686568), "1.69");
        assert_eq!(human(0.25), "0.25");
        assert_eq!(human(300.0), "300");
    }

    #[test]
    fn escaping() {
        assert_eq!(html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(markdown("a|b_c*"), "a\\|b\\_c\\*");
        assert_eq!(duration(41.2), "41.2 s");
        assert_eq!(duration(185.0), "3 min 5 s");
        assert_eq!(factor(5.58), "5.6×");
    }
}
