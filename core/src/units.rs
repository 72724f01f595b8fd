//! Quantities with units: byte sizes (`512MiB`, `1.5GB`, `512m`), CPU counts (`0.5`) and
//! durations (`1m30s`). Each parses leniently, prints canonically, and round-trips exactly.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::codes;
use crate::de::coded_error;

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const KI: u64 = 1024;
const UNITS_IEC: [(&str, u64); 5] = [
    ("PiB", KI * KI * KI * KI * KI),
    ("TiB", KI * KI * KI * KI),
    ("GiB", KI * KI * KI),
    ("MiB", KI * KI),
    ("KiB", KI),
];
const UNITS_SI: [(&str, u64); 5] = [
    ("PB", 1_000_000_000_000_000),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
];

impl ByteSize {
    /// Mebibytes, rounded down.
    pub fn mib(&self) -> u64 {
        self.0 / (KI * KI)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    /// Accepts `123` (bytes), `512MiB`/`1GiB` (binary), `1.5GB`/`500MB`/`10kB` (decimal), and
    /// docker's `512m`/`1g`/`100k`/`10b` (binary, any case).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = (&t[..split], t[split..].trim());
        if num.is_empty() {
            return Err(format!("`{s}` is not a size"));
        }
        let mult: u64 = match unit {
            "" | "B" | "b" => 1,
            "KiB" | "Ki" => KI,
            "MiB" | "Mi" => KI * KI,
            "GiB" | "Gi" => KI * KI * KI,
            "TiB" | "Ti" => KI * KI * KI * KI,
            "PiB" | "Pi" => KI * KI * KI * KI * KI,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "PB" => 1_000_000_000_000_000,
            "k" | "K" | "kb" => KI,
            "m" | "M" | "mb" => KI * KI,
            "g" | "G" | "gb" => KI * KI * KI,
            "t" | "T" | "tb" => KI * KI * KI * KI,
            _ => return Err(format!("unknown size unit `{unit}` in `{s}`")),
        };
        let bytes = mul_decimal(num, mult)
            .ok_or_else(|| format!("`{s}` is not a whole number of bytes or is too large"))?;
        Ok(ByteSize(bytes))
    }
}

/// `num` (digits with an optional fraction) times `mult`, exactly; None if not whole or too large.
fn mul_decimal(num: &str, mult: u64) -> Option<u64> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') || frac.len() > 18 {
        return None;
    }
    let int_v: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let scale = 10u128.checked_pow(frac.len() as u32)?;
    let total = int_v
        .checked_mul(scale)?
        .checked_add(frac_v)?
        .checked_mul(u128::from(mult))?;
    if total % scale != 0 {
        return None;
    }
    u64::try_from(total / scale).ok()
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides exactly, else decimal, else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (name, m) in UNITS_IEC.iter().chain(UNITS_SI.iter()) {
            if self.0.is_multiple_of(*m) {
                return write!(f, "{}{}", self.0 / m, name);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 512MiB, 1.5GB or 512m")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Err(coded_error(
                    codes::BAD_UNIT,
                    &format!("a size cannot be negative ({v})"),
                    None,
                ))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                Err(coded_error(
                    codes::BAD_UNIT,
                    &format!("{v} bytes is not a whole number"),
                    Some("add a unit, such as 512MiB or 1.5GB"),
                ))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(|m: String| {
                    coded_error(
                        codes::BAD_UNIT,
                        &m,
                        Some("write a size such as 512MiB, 1GiB, 1.5GB or 512m"),
                    )
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size: bytes as an integer, or a number with a unit: KiB MiB GiB TiB (binary), kB MB GB TB (decimal), k m g (docker, binary)",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*([KMGTP]i?B?|[kmgtp]b?|kB|[bB])?$"}
            ]
        })
    }
}

/// A number of CPUs, held in thousandths (`0.5` is 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cpus(pub u64);

impl Cpus {
    /// As a float.
    pub fn as_f64(&self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// ECS CPU units (1 vCPU = 1024), rounded up.
    pub fn ecs_units(&self) -> u64 {
        (self.0 * 1024).div_ceil(1000)
    }

    /// Docker/Swarm NanoCPUs.
    pub fn nano(&self) -> u64 {
        self.0 * 1_000_000
    }
}

impl FromStr for Cpus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.starts_with('-') {
            return Err(format!("cpus cannot be negative (`{s}`)"));
        }
        let m = mul_decimal(t, 1000)
            .ok_or_else(|| format!("`{s}` is not a cpu count with at most three decimals"))?;
        Ok(Cpus(m))
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, r) = (self.0 / 1000, self.0 % 1000);
        if r == 0 {
            write!(f, "{i}")
        } else {
            let frac = format!("{r:03}");
            write!(f, "{i}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            s.serialize_u64(self.0 / 1000)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Cpus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of cpus such as 0.5 or 2")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cpus, E> {
                v.checked_mul(1000)
                    .map(Cpus)
                    .ok_or_else(|| coded_error(codes::BAD_UNIT, "too many cpus", None))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cpus, E> {
                Err(coded_error(
                    codes::BAD_UNIT,
                    &format!("cpus cannot be negative ({v})"),
                    None,
                ))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cpus, E> {
                if !v.is_finite() || v < 0.0 {
                    return Err(coded_error(
                        codes::BAD_UNIT,
                        &format!("{v} is not a cpu count"),
                        None,
                    ));
                }
                // The shortest text that reads back as v, then exact decimal arithmetic.
                self.visit_str(&format!("{v}"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cpus, E> {
                v.parse().map_err(|m: String| {
                    coded_error(
                        codes::BAD_UNIT,
                        &m,
                        Some("write cpus as a number such as 0.5, 1 or 1.25"),
                    )
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Cpus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cpus".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of CPUs, up to three decimals, such as 0.5 or 2",
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,3})?$"}
            ]
        })
    }
}

/// A duration, held in nanoseconds; written like Go's `1m30s`, `500ms`, `2h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

const NS: [(&str, u64); 7] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

impl Duration {
    /// Whole seconds, rounded up.
    pub fn secs_ceil(&self) -> u64 {
        self.0.div_ceil(1_000_000_000)
    }

    /// As a std duration.
    pub fn to_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("an empty duration".into());
        }
        if t == "0" {
            return Ok(Duration(0));
        }
        let mut total: u128 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let n_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("`{s}` needs a unit after {rest} (h, m, s, ms, us, ns)"))?;
            let num = &rest[..n_end];
            rest = &rest[n_end..];
            let u_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..u_end];
            rest = &rest[u_end..];
            let mult = NS
                .iter()
                .find(|(n, _)| *n == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| {
                    format!("unknown duration unit `{unit}` in `{s}` (use h, m, s, ms, us, ns)")
                })?;
            let v =
                mul_decimal(num, mult).ok_or_else(|| format!("`{s}` is not a valid duration"))?;
            total += u128::from(v);
        }
        u64::try_from(total)
            .map(Duration)
            .map_err(|_| format!("`{s}` is too long a duration"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (name, m) in NS.iter().filter(|(n, _)| *n != "µs") {
            if rest >= *m {
                write!(f, "{}{}", rest / m, name)?;
                rest %= m;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 10s, 1m30s or 500ms")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    return Ok(Duration(0));
                }
                Err(coded_error(
                    codes::BAD_DURATION,
                    &format!("a duration needs a unit: `{v}`"),
                    Some(&format!("write `{v}s` for seconds")),
                ))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(coded_error(
                    codes::BAD_DURATION,
                    &format!("a duration cannot be negative ({v})"),
                    None,
                ))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(coded_error(
                    codes::BAD_DURATION,
                    &format!("a duration needs a unit: `{v}`"),
                    Some(&format!("write `{v}s` for seconds")),
                ))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(|m: String| {
                    coded_error(
                        codes::BAD_DURATION,
                        &m,
                        Some("write a duration such as 10s, 1m30s or 500ms"),
                    )
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration such as 10s, 1m30s, 500ms or 2h",
            "type": "string",
            "pattern": "^(0|([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|µs|ns))+)$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let p = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(p("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(p("1.5GB"), Ok(1_500_000_000));
        assert_eq!(p("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(p("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(p("100"), Ok(100));
        assert!(p("1.5").is_err());
        assert!(p("12XB").is_err());
        assert!(p("").is_err());
        assert!(p("99999999999999999999PiB").is_err());
        assert_eq!(ByteSize(512 * 1024 * 1024).to_string(), "512MiB");
        assert_eq!(ByteSize(1_500_000_000).to_string(), "1500MB");
        assert_eq!(ByteSize(7).to_string(), "7B");
    }

    #[test]
    fn cpus() {
        assert_eq!("0.5".parse::<Cpus>(), Ok(Cpus(500)));
        assert_eq!("2".parse::<Cpus>(), Ok(Cpus(2000)));
        assert!("0.0001".parse::<Cpus>().is_err());
        assert_eq!(Cpus(250).to_string(), "0.25");
        assert_eq!(Cpus(500).ecs_units(), 512);
    }

    #[test]
    fn durations() {
        let p = |s: &str| s.parse::<Duration>().map(|d| d.0);
        assert_eq!(p("1m30s"), Ok(90_000_000_000));
        assert_eq!(p("500ms"), Ok(500_000_000));
        assert_eq!(p("1.5s"), Ok(1_500_000_000));
        assert!(p("10").is_err());
        assert!(p("10x").is_err());
        assert_eq!(Duration(90_000_000_000).to_string(), "1m30s");
        assert_eq!(Duration(1_500_000_000).to_string(), "1s500ms");
        assert_eq!(p("1s500ms"), Ok(1_500_000_000));
    }
}
