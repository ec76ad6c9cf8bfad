//! The metadata walk every backend runs before hashing: the JSON is brought into the exact
//! form the database gives back (so the hash computed now verifies later), and what the
//! database would refuse or mangle is refused here, with a typed error, before any database
//! work.

use serde_json::Value;

use crate::error::{Error, Result};

/// Nesting that `serde_json` reads back: its parser stops at 128 levels, so a deeper value
/// could be stored but never decoded again (measured by `serde_json_reads_back_this_deep`).
pub(crate) const SERDE_MAX_DEPTH: usize = 127;

/// What a backend's JSON column accepts and how it prints numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetadataRules {
    /// The column type, for error messages (`"jsonb"`, `"MariaDB JSON"`).
    pub store: &'static str,
    /// Whether strings may hold `\u0000`.
    pub allow_nul: bool,
    /// Deepest nesting of arrays and objects accepted (the metadata object itself is 1).
    pub max_depth: usize,
    /// How the database prints numbers back.
    pub numbers: NumberForm,
}

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

/// Rewrites `value` into the exact value reading it back yields, or refuses it.
pub(crate) fn normalize(value: &mut Value, rules: &MetadataRules) -> Result<()> {
    walk(value, rules, 1)
}

fn walk(value: &mut Value, rules: &MetadataRules, depth: usize) -> Result<()> {
    let container = matches!(value, Value::Array(_) | Value::Object(_));
    if container && depth > rules.max_depth {
        return Err(Error::Metadata(format!(
            "nested deeper than {} levels, the most {} stores and reads back",
            rules.max_depth, rules.store
        )));
    }
    match value {
        Value::Number(n) if n.is_f64() && rules.numbers == NumberForm::PgNumeric => {
            let text = n.to_string();
            let plain = plain_decimal(&text);
            if plain != text {
                *value = serde_json::from_str(&plain).map_err(|err| {
                    Error::Metadata(format!("number {text} cannot be normalized: {err}"))
                })?;
            }
        }
        Value::String(s) if !rules.allow_nul && s.contains('\0') => {
            return Err(nul_refused("a string", rules));
        }
        Value::Array(items) => {
            for item in items {
                walk(item, rules, depth + 1)?;
            }
        }
        Value::Object(map) => {
            if !rules.allow_nul && map.keys().any(|k| k.contains('\0')) {
                return Err(nul_refused("a key", rules));
            }
            for item in map.values_mut() {
                walk(item, rules, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn nul_refused(what: &str, rules: &MetadataRules) -> Error {
    Error::Metadata(format!(
        "{what} contains the NUL character (\\u0000), which {} refuses",
        rules.store
    ))
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

    const PG: MetadataRules = MetadataRules {
        store: "jsonb",
        allow_nul: false,
        max_depth: SERDE_MAX_DEPTH,
        numbers: NumberForm::PgNumeric,
    };

    const TEXT: MetadataRules = MetadataRules {
        store: "a JSON text column",
        allow_nul: true,
        max_depth: 31,
        numbers: NumberForm::AsWritten,
    };

    fn nested(depth: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!([v]);
        }
        v
    }

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
        normalize(&mut v, &PG).unwrap();
        assert_eq!(v["a"], json!(10000000000000000u64));
        assert_eq!(v["b"][0].as_f64(), Some(1.5e-7));
        assert_eq!(v["d"], json!(7));
    }

    #[test]
    fn numbers_stay_as_written_for_a_text_column() {
        let mut v = json!({"a": 1e16, "z": -0.0});
        let before = v.clone();
        normalize(&mut v, &TEXT).unwrap();
        assert_eq!(v, before);
    }

    #[test]
    fn nul_in_metadata_is_refused_where_the_column_refuses_it() {
        for mut v in [json!({"a": "x\u{0}y"}), json!({"k\u{0}": 1})] {
            assert!(matches!(normalize(&mut v, &PG), Err(Error::Metadata(_))));
            assert!(normalize(&mut v, &TEXT).is_ok());
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let mut ok = json!({ "a": nested(TEXT.max_depth - 1) });
        assert!(normalize(&mut ok, &TEXT).is_ok());
        let mut deep = json!({ "a": nested(TEXT.max_depth) });
        let err = normalize(&mut deep, &TEXT).unwrap_err();
        assert!(err.to_string().contains("deeper than 31"), "{err}");
    }

    #[test]
    fn serde_json_reads_back_this_deep() {
        // The limit the PostgreSQL rules use is exactly what serde_json can parse again.
        let at_limit = json!({ "a": nested(SERDE_MAX_DEPTH - 1) }).to_string();
        assert!(serde_json::from_str::<Value>(&at_limit).is_ok());
        let beyond = json!({ "a": nested(SERDE_MAX_DEPTH) }).to_string();
        assert!(serde_json::from_str::<Value>(&beyond).is_err());
    }
}
