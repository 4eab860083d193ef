//! Counter support for `Cache::incr` / `Cache::decr`.
//!
//! A cached value can take part in counter operations when its type implements
//! [`CounterValue`]: the value is read as an `i64`, the crate-private checked
//! arithmetic helpers `add` / `sub` compute the next value, and the result is
//! written back with [`CounterValue::from_counter`].
//!
//! # Error conventions
//!
//! * [`CacheError::NotAnInteger`] means the stored value cannot be read as an
//!   integer at all. For text values (`String`, `Box<str>`, `Arc<str>`,
//!   `Vec<u8>`) this includes text that is a well-formed decimal integer but
//!   lies outside the `i64` range, mirroring Redis's single
//!   "value is not an integer or out of range" reply.
//! * [`CacheError::Overflow`] is reserved for arithmetic overflow of the `i64`
//!   counter and for numeric types whose range does not match `i64` (a
//!   `u64` above `i64::MAX`, a negative result stored in a `u32`, 300 stored in
//!   a `u8`, ...).
//!
//! # Text format
//!
//! Text values are parsed exactly like Redis's `string2ll`: an optional
//! leading `-` followed by one or more ASCII digits, with no `+` sign, no
//! surrounding or embedded whitespace, no decimal point or exponent, and no
//! leading zeros except for the string `"0"` itself. In particular `"-0"` is
//! rejected (Redis requires the first digit after `-` to be `1`..=`9`), as are
//! `"007"` and the empty string. Writing back always uses plain decimal
//! (`n.to_string()`), so a counter stored in a text type always reads back as
//! canonical decimal text.

use std::sync::Arc;

use crate::CacheError;

/// A value type that `Cache::incr` / `Cache::decr` can treat as a 64-bit signed counter.
///
/// Implemented for every primitive integer type (`i8` through `i128`,
/// `isize`, `u8` through `u128`, `usize`) and for the text types `String`,
/// `Box<str>`, `Arc<str>` and `Vec<u8>`, which hold the counter as decimal
/// text (see the module documentation for the exact accepted format).
pub trait CounterValue: Sized {
    /// Reads the value as a counter.
    ///
    /// Returns `Err(CacheError::NotAnInteger)` if it is not an integer, and
    /// `Err(CacheError::Overflow)` if it is an integer of a numeric type that
    /// lies outside the `i64` range. Text that is a valid decimal integer but
    /// outside `i64` is reported as `NotAnInteger`, as Redis does.
    fn to_counter(&self) -> Result<i64, CacheError>;

    /// Builds a value holding `n`.
    ///
    /// Returns `Err(CacheError::Overflow)` if `n` does not fit the type (e.g. a
    /// negative number for `u32`, 300 for `u8`). Text types always succeed and
    /// hold `n` in plain decimal.
    fn from_counter(n: i64) -> Result<Self, CacheError>;
}

/// Implements [`CounterValue`] for primitive integer types via `TryFrom`,
/// mapping any out-of-range conversion to [`CacheError::Overflow`].
macro_rules! impl_counter_for_int {
    ($($t:ty),* $(,)?) => {
        $(
            impl CounterValue for $t {
                #[inline]
                fn to_counter(&self) -> Result<i64, CacheError> {
                    i64::try_from(*self).map_err(|_| CacheError::Overflow)
                }

                #[inline]
                fn from_counter(n: i64) -> Result<Self, CacheError> {
                    <$t>::try_from(n).map_err(|_| CacheError::Overflow)
                }
            }
        )*
    };
}

impl_counter_for_int!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

/// Parses `bytes` as a decimal `i64` with Redis `string2ll` rules.
///
/// Accepts an optional leading `-` followed by ASCII digits, where the first
/// digit is `1`..=`9` unless the whole input is exactly `"0"`. Anything else
/// (empty input, a lone `-`, `"-0"`, leading zeros, `+`, whitespace, any
/// non-digit byte, or a value outside `i64`) is
/// [`CacheError::NotAnInteger`]. Never panics and inspects at most 21 bytes
/// before deciding.
fn parse_decimal(bytes: &[u8]) -> Result<i64, CacheError> {
    if bytes == b"0" {
        return Ok(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, bytes),
        None => return Err(CacheError::NotAnInteger),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return Err(CacheError::NotAnInteger),
    }
    // Accumulate as a negative number so that i64::MIN, whose magnitude has no
    // positive i64 counterpart, parses without a special case.
    let mut acc: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(CacheError::NotAnInteger);
        }
        let digit = i64::from(b - b'0');
        acc = acc
            .checked_mul(10)
            .and_then(|v| v.checked_sub(digit))
            .ok_or(CacheError::NotAnInteger)?;
    }
    if negative {
        Ok(acc)
    } else {
        acc.checked_neg().ok_or(CacheError::NotAnInteger)
    }
}

/// Counters stored as decimal text, as Redis `INCR` does on strings.
impl CounterValue for String {
    #[inline]
    fn to_counter(&self) -> Result<i64, CacheError> {
        parse_decimal(self.as_bytes())
    }

    #[inline]
    fn from_counter(n: i64) -> Result<Self, CacheError> {
        Ok(n.to_string())
    }
}

/// Counters stored as decimal text in a boxed string slice.
impl CounterValue for Box<str> {
    #[inline]
    fn to_counter(&self) -> Result<i64, CacheError> {
        parse_decimal(self.as_bytes())
    }

    #[inline]
    fn from_counter(n: i64) -> Result<Self, CacheError> {
        Ok(n.to_string().into_boxed_str())
    }
}

/// Counters stored as decimal text in a shared string slice.
impl CounterValue for Arc<str> {
    #[inline]
    fn to_counter(&self) -> Result<i64, CacheError> {
        parse_decimal(self.as_bytes())
    }

    #[inline]
    fn from_counter(n: i64) -> Result<Self, CacheError> {
        Ok(Arc::from(n.to_string()))
    }
}

/// Counters stored as decimal ASCII bytes; bytes that are not ASCII digits
/// (including invalid UTF-8) are [`CacheError::NotAnInteger`].
impl CounterValue for Vec<u8> {
    #[inline]
    fn to_counter(&self) -> Result<i64, CacheError> {
        parse_decimal(self)
    }

    #[inline]
    fn from_counter(n: i64) -> Result<Self, CacheError> {
        Ok(n.to_string().into_bytes())
    }
}

/// Computes the next counter value: `current.unwrap_or(default) + delta` (for incr) with checked arithmetic.
///
/// Returns `Err(CacheError::Overflow)` if the sum does not fit in `i64`.
#[inline]
pub(crate) fn add(current: Option<i64>, default: i64, delta: i64) -> Result<i64, CacheError> {
    current
        .unwrap_or(default)
        .checked_add(delta)
        .ok_or(CacheError::Overflow)
}

/// Same for decr: `current.unwrap_or(default) - delta`, with checked arithmetic.
///
/// `delta == i64::MIN` is handled as a plain checked subtraction (it is never
/// negated), so it cannot panic: it succeeds only when the base is negative.
/// Returns `Err(CacheError::Overflow)` if the difference does not fit in `i64`.
#[inline]
pub(crate) fn sub(current: Option<i64>, default: i64, delta: i64) -> Result<i64, CacheError> {
    current
        .unwrap_or(default)
        .checked_sub(delta)
        .ok_or(CacheError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAI: Result<i64, CacheError> = Err(CacheError::NotAnInteger);
    const OVF: Result<i64, CacheError> = Err(CacheError::Overflow);

    /// Parses `s` through every text type and checks they all agree on `want`.
    fn text_all(s: &str, want: Result<i64, CacheError>) {
        assert_eq!(s.to_string().to_counter(), want, "String {s:?}");
        assert_eq!(Box::<str>::from(s).to_counter(), want, "Box<str> {s:?}");
        assert_eq!(Arc::<str>::from(s).to_counter(), want, "Arc<str> {s:?}");
        assert_eq!(s.as_bytes().to_vec().to_counter(), want, "Vec<u8> {s:?}");
    }

    /// Round-trips every value in `values` through `T` and back.
    fn round_trip<T: CounterValue + std::fmt::Debug>(values: &[i64]) {
        for &n in values {
            let v = T::from_counter(n).unwrap_or_else(|e| panic!("from_counter({n}) failed: {e}"));
            assert_eq!(v.to_counter(), Ok(n), "round trip of {n} via {v:?}");
        }
    }

    #[test]
    fn error_display_messages() {
        assert_eq!(
            CacheError::NotAnInteger.to_string(),
            "value is not an integer"
        );
        assert_eq!(
            CacheError::Overflow.to_string(),
            "increment or decrement would overflow"
        );
        assert_eq!(CacheError::Closed.to_string(), "cache backend is closed");
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(CacheError::Closed);
        assert!(boxed.source().is_none());
        assert_eq!(boxed.to_string(), "cache backend is closed");
    }

    #[test]
    fn signed_types_round_trip() {
        round_trip::<i8>(&[0, 1, -1, 42, i8::MIN.into(), i8::MAX.into()]);
        round_trip::<i16>(&[0, 1, -1, i16::MIN.into(), i16::MAX.into()]);
        round_trip::<i32>(&[0, 1, -1, i32::MIN.into(), i32::MAX.into()]);
        round_trip::<i64>(&[0, 1, -1, i64::MIN, i64::MAX]);
        round_trip::<i128>(&[0, 1, -1, i64::MIN, i64::MAX]);
        round_trip::<isize>(&[0, 1, -1, i32::MIN.into(), i32::MAX.into()]);
    }

    #[test]
    fn unsigned_types_round_trip() {
        round_trip::<u8>(&[0, 1, u8::MAX.into()]);
        round_trip::<u16>(&[0, 1, u16::MAX.into()]);
        round_trip::<u32>(&[0, 1, u32::MAX.into()]);
        round_trip::<u64>(&[0, 1, i64::MAX]);
        round_trip::<u128>(&[0, 1, i64::MAX]);
        round_trip::<usize>(&[0, 1, u32::MAX.into()]);
    }

    #[test]
    fn text_types_round_trip() {
        let values = [0, 1, -1, 10, -10, 1234567890, i64::MIN, i64::MAX];
        round_trip::<String>(&values);
        round_trip::<Box<str>>(&values);
        round_trip::<Arc<str>>(&values);
        round_trip::<Vec<u8>>(&values);
    }

    #[test]
    fn text_writes_plain_decimal() {
        assert_eq!(String::from_counter(-42), Ok("-42".to_string()));
        assert_eq!(String::from_counter(0), Ok("0".to_string()));
        assert_eq!(
            String::from_counter(i64::MIN),
            Ok("-9223372036854775808".to_string())
        );
        assert_eq!(Box::<str>::from_counter(7).as_deref(), Ok("7"));
        assert_eq!(Arc::<str>::from_counter(-7).as_deref(), Ok("-7"));
        assert_eq!(Vec::<u8>::from_counter(123), Ok(b"123".to_vec()));
    }

    #[test]
    fn narrow_types_reject_out_of_range_counters() {
        assert_eq!(
            i8::from_counter(i64::from(i8::MAX) + 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(
            i8::from_counter(i64::from(i8::MIN) - 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(
            i16::from_counter(i64::from(i16::MAX) + 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(
            i16::from_counter(i64::from(i16::MIN) - 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(
            i32::from_counter(i64::from(i32::MAX) + 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(
            i32::from_counter(i64::from(i32::MIN) - 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(u8::from_counter(300), Err(CacheError::Overflow));
        assert_eq!(u8::from_counter(256), Err(CacheError::Overflow));
        assert_eq!(
            u16::from_counter(i64::from(u16::MAX) + 1),
            Err(CacheError::Overflow)
        );
        assert_eq!(
            u32::from_counter(i64::from(u32::MAX) + 1),
            Err(CacheError::Overflow)
        );
    }

    #[test]
    fn unsigned_types_reject_negative_counters() {
        assert_eq!(u8::from_counter(-1), Err(CacheError::Overflow));
        assert_eq!(u16::from_counter(-1), Err(CacheError::Overflow));
        assert_eq!(u32::from_counter(-1), Err(CacheError::Overflow));
        assert_eq!(u64::from_counter(-1), Err(CacheError::Overflow));
        assert_eq!(u128::from_counter(-1), Err(CacheError::Overflow));
        assert_eq!(usize::from_counter(-1), Err(CacheError::Overflow));
        assert_eq!(u64::from_counter(i64::MIN), Err(CacheError::Overflow));
    }

    #[test]
    fn wide_values_outside_i64_overflow() {
        assert_eq!(u64::MAX.to_counter(), OVF);
        assert_eq!((i64::MAX as u64 + 1).to_counter(), OVF);
        assert_eq!((i64::MAX as u64).to_counter(), Ok(i64::MAX));
        assert_eq!(u128::MAX.to_counter(), OVF);
        assert_eq!((i128::from(i64::MAX) + 1).to_counter(), OVF);
        assert_eq!((i128::from(i64::MIN) - 1).to_counter(), OVF);
        assert_eq!(i128::MIN.to_counter(), OVF);
        assert_eq!(i128::MAX.to_counter(), OVF);
        assert_eq!(i128::from(i64::MIN).to_counter(), Ok(i64::MIN));
        if usize::BITS >= 64 {
            assert_eq!(usize::MAX.to_counter(), OVF);
        }
        // Every i64 fits isize on 64-bit targets; on narrower targets the
        // isize range is a subset of i64, so isize::MIN/MAX always fit.
        assert_eq!(isize::MIN.to_counter(), Ok(isize::MIN as i64));
        assert_eq!(isize::MAX.to_counter(), Ok(isize::MAX as i64));
    }

    #[test]
    fn text_accepts_canonical_decimal() {
        text_all("0", Ok(0));
        text_all("1", Ok(1));
        text_all("-1", Ok(-1));
        text_all("10", Ok(10));
        text_all("-10", Ok(-10));
        text_all("100", Ok(100));
        text_all("9223372036854775807", Ok(i64::MAX));
        text_all("-9223372036854775808", Ok(i64::MIN));
        text_all("-9223372036854775807", Ok(i64::MIN + 1));
    }

    #[test]
    fn text_rejects_malformed_input() {
        for s in [
            "", "-", "--1", "+1", "+", " 1", "1 ", " ", "\t1", "1\n", "01", "007", "00", "-0",
            "-00", "-01", "1.5", "1.0", ".5", "1e3", "1E3", "0x10", "abc", "1a", "a1", "1_000",
            "1,000", "-1-", "1-", "\u{0661}", "\u{ff11}",
        ] {
            text_all(s, NAI);
        }
    }

    #[test]
    fn text_outside_i64_is_not_an_integer() {
        text_all("9223372036854775808", NAI);
        text_all("-9223372036854775809", NAI);
        text_all("18446744073709551615", NAI);
        text_all("99999999999999999999", NAI);
        text_all("-99999999999999999999", NAI);
        text_all("100000000000000000000000000000000000000000", NAI);
        // Long inputs are rejected without panicking.
        text_all(&"9".repeat(10_000), NAI);
    }

    #[test]
    fn bytes_that_are_not_utf8_or_digits_are_not_integers() {
        for bytes in [
            vec![0xff],
            vec![b'1', 0xff],
            vec![0xff, b'1'],
            vec![b'-', 0x80, b'1'],
            vec![0xc3, 0x28],
            vec![b'1', 0],
            vec![0],
        ] {
            assert_eq!(bytes.to_counter(), NAI, "{bytes:?}");
        }
        assert_eq!(Vec::<u8>::new().to_counter(), NAI);
    }

    #[test]
    fn add_uses_default_and_checks_overflow() {
        assert_eq!(add(None, 0, 1), Ok(1));
        assert_eq!(add(None, 10, 5), Ok(15));
        assert_eq!(add(Some(3), 100, 4), Ok(7));
        assert_eq!(add(Some(3), 100, -4), Ok(-1));
        assert_eq!(add(Some(i64::MAX - 1), 0, 1), Ok(i64::MAX));
        assert_eq!(add(Some(i64::MAX), 0, 1), OVF);
        assert_eq!(add(None, i64::MAX, 1), OVF);
        assert_eq!(add(Some(i64::MIN + 1), 0, -1), Ok(i64::MIN));
        assert_eq!(add(Some(i64::MIN), 0, -1), OVF);
        assert_eq!(add(Some(0), 0, i64::MIN), Ok(i64::MIN));
        assert_eq!(add(Some(-1), 0, i64::MIN), OVF);
        assert_eq!(add(Some(i64::MIN), 0, i64::MIN), OVF);
        assert_eq!(add(Some(i64::MAX), 0, i64::MIN), Ok(-1));
        assert_eq!(add(Some(i64::MAX), 0, i64::MAX), OVF);
    }

    #[test]
    fn sub_uses_default_and_checks_overflow() {
        assert_eq!(sub(None, 0, 1), Ok(-1));
        assert_eq!(sub(None, 10, 5), Ok(5));
        assert_eq!(sub(Some(3), 100, 4), Ok(-1));
        assert_eq!(sub(Some(3), 100, -4), Ok(7));
        assert_eq!(sub(Some(i64::MIN + 1), 0, 1), Ok(i64::MIN));
        assert_eq!(sub(Some(i64::MIN), 0, 1), OVF);
        assert_eq!(sub(None, i64::MIN, 1), OVF);
        assert_eq!(sub(Some(i64::MAX - 1), 0, -1), Ok(i64::MAX));
        assert_eq!(sub(Some(i64::MAX), 0, -1), OVF);
    }

    #[test]
    fn sub_with_i64_min_delta_does_not_panic() {
        // x - i64::MIN == x + 2^63, which fits only when x < 0.
        assert_eq!(sub(Some(0), 0, i64::MIN), OVF);
        assert_eq!(sub(None, 0, i64::MIN), OVF);
        assert_eq!(sub(Some(i64::MAX), 0, i64::MIN), OVF);
        assert_eq!(sub(Some(-1), 0, i64::MIN), Ok(i64::MAX));
        assert_eq!(sub(Some(i64::MIN), 0, i64::MIN), Ok(0));
        assert_eq!(sub(None, -5, i64::MIN), Ok(i64::MAX - 4));
    }

    #[test]
    fn failed_conversions_are_not_mistaken_for_success() {
        // A negative counter must not wrap into a large unsigned value or
        // saturate to zero.
        let r = u32::from_counter(-1);
        assert!(r.is_err(), "got {r:?}");
        assert_ne!(r, Ok(u32::MAX));
        assert_ne!(r, Ok(0));
        // 300 must not truncate to 44 or saturate to 255.
        let r = u8::from_counter(300);
        assert!(r.is_err(), "got {r:?}");
        assert_ne!(r, Ok(44));
        assert_ne!(r, Ok(u8::MAX));
        // u64::MAX must not be read back as -1 (the `as` cast result).
        let r = u64::MAX.to_counter();
        assert!(r.is_err(), "got {r:?}");
        assert_ne!(r, Ok(-1));
        // Unparsable text must not read as 0, and the leading digits of a
        // partially numeric string must not be accepted.
        assert_ne!("abc".to_string().to_counter(), Ok(0));
        assert_ne!("12abc".to_string().to_counter(), Ok(12));
        assert_ne!("1.5".to_string().to_counter(), Ok(1));
        // Out-of-range text must not saturate or wrap.
        let r = "9223372036854775808".to_string().to_counter();
        assert_ne!(r, Ok(i64::MAX));
        assert_ne!(r, Ok(i64::MIN));
        // Overflowing arithmetic must not wrap or saturate.
        let r = add(Some(i64::MAX), 0, 1);
        assert_ne!(r, Ok(i64::MIN));
        assert_ne!(r, Ok(i64::MAX));
        assert!(r.is_err());
        // Each failure reports the documented kind, not some other error.
        assert!(matches!(u8::from_counter(-1), Err(CacheError::Overflow)));
        assert!(matches!(
            "x".to_string().to_counter(),
            Err(CacheError::NotAnInteger)
        ));
    }

    #[test]
    fn parse_agrees_with_std_on_canonical_text() {
        // Cross-check the hand-written parser against std on a spread of
        // values, including every power of ten and its neighbours.
        let mut n: i64 = 1;
        loop {
            for v in [n - 1, n, n + 1, -(n - 1), -n, -(n + 1)] {
                let s = v.to_string();
                assert_eq!(parse_decimal(s.as_bytes()), Ok(v), "{s}");
                assert_eq!(s.parse::<i64>(), Ok(v));
            }
            match n.checked_mul(10) {
                Some(next) => n = next,
                None => break,
            }
        }
    }
}
