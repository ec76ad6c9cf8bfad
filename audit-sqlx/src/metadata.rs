//! The metadata walk every backend runs before hashing: the JSON is brought into the exact
//! form the database gives back, so the hash computed now verifies later. (What no store may
//! hold — nesting beyond `MAX_METADATA_DEPTH`, NUL — is refused earlier, by the event's own
//! validation in `audit_core::validate`.)

use serde_json::Value;

use crate::error::{Error, Result};

/// How a JSON column prints numbers when read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberForm {
    /// Exactly as written (the column keeps the text).
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    AsWritten,
    /// PostgreSQL's `numeric`: no exponent, no negative zero.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    PgNumeric,
}

/// Rewrites `value` into the exact value reading `numbers`' column back yields. The value
/// is validated (`audit_core::validate::metadata_shape`), so the recursion is bounded.
pub(crate) fn normalize(value: &mut Value, numbers: NumberForm) -> Result<()> {
    match value {
        Value::Number(n) if n.is_f64() && numbers == NumberForm::PgNumeric => {
            let text = n.to_string();
            let plain = plain_decimal(&text);
            if plain != text {
                *value = serde_json::from_str(&plain).map_err(|err| {
                    Error::Metadata(format!("number {text} cannot be normalized: {err}"))
                })?;
            }
        }
        Value::Array(items) => {
            for item in items {
                normalize(item, numbers)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                normalize(item, numbers)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// How PostgreSQL's `numeric` prints a JSON number literal: no exponent, the scale kept
/// (`1.5e-7` → `0.00000015`, `1e16` → `10000000000000000`), zero unsigned.
fn plain_decimal(text: &str) -> String {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int_part}{frac_part}");
    // Value = digits × 10^(exponent − frac_len); numeric keeps scale = max(0, frac_len − exponent).
    let frac_len = frac_part.len() as i64;
    let scale = (frac_len - exponent).max(0);
    let point_from_right = frac_len - exponent;
    let mut all = digits;
    if point_from_right < 0 {
        all.extend(std::iter::repeat_n('0', (-point_from_right) as usize));
    }
    let scale_us = scale as usize;
    if all.len() <= scale_us {
        let pad = scale_us + 1 - all.len();
        all.insert_str(0, &"0".repeat(pad));
    }
    let split = all.len() - scale_us;
    let (int_digits, frac_digits) = all.split_at(split);
    let int_trimmed = int_digits.trim_start_matches('0');
    let int_trimmed = if int_trimmed.is_empty() {
        "0"
    } else {
        int_trimmed
    };
    let is_zero = int_trimmed == "0" && frac_digits.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(all.len() + 2);
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(int_trimmed);
    if scale_us > 0 {
        out.push('.');
        out.push_str(frac_digits);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exponent_numbers_print_like_numeric() {
        assert_eq!(plain_decimal("1e16"), "10000000000000000");
        assert_eq!(plain_decimal("1.5e-7"), "0.00000015");
        assert_eq!(plain_decimal("-2.5e3"), "-2500");
        assert_eq!(plain_decimal("1.2345e2"), "123.45");
        assert_eq!(plain_decimal("-0.0"), "0.0");
        assert_eq!(plain_decimal("0.1"), "0.1");
        assert_eq!(plain_decimal("123.0"), "123.0");
    }

    #[test]
    fn large_integral_floats_become_integers_for_numeric() {
        let mut v = json!({"a": 1e16, "b": [1.5e-7], "c": "x", "d": 7});
        normalize(&mut v, NumberForm::PgNumeric).unwrap();
        assert_eq!(v["a"], json!(10000000000000000u64));
        assert_eq!(v["b"][0].as_f64(), Some(1.5e-7));
        assert_eq!(v["d"], json!(7));
    }

    #[test]
    fn numbers_stay_as_written_for_a_text_column() {
        let mut v = json!({"a": 1e16, "z": -0.0});
        let before = v.clone();
        normalize(&mut v, NumberForm::AsWritten).unwrap();
        assert_eq!(v, before);
    }
}
