//! Time, passed in explicitly so that core never reads the system clock itself.
//!
//! The CLI hands core a [`SystemClock`] (or a [`FixedClock`] when `OCUROOT_NOW` is set, which
//! tests use for stable output). Timestamps appear in status markers and commit metadata.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds plus nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// Renders the timestamp as RFC 3339 in UTC (`2026-01-02T03:04:05.123456789Z`).
    pub fn to_rfc3339(&self) -> String {
        match jiff::Timestamp::new(self.seconds, self.nanos as i32) {
            Ok(t) => t.to_string(),
            Err(_) => format!("@{}", self.seconds),
        }
    }

    /// Parses an RFC 3339 timestamp or a plain number of seconds since the epoch.
    pub fn parse(text: &str) -> Option<Timestamp> {
        if let Ok(secs) = text.trim().parse::<i64>() {
            return Some(Timestamp {
                seconds: secs,
                nanos: 0,
            });
        }
        let t: jiff::Timestamp = text.trim().parse().ok()?;
        Some(Timestamp {
            seconds: t.as_second(),
            nanos: t.subsec_nanosecond().max(0) as u32,
        })
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Returns the current time.
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the system clock
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
        }
    }
}

/// A clock that always returns the same time (for tests and reproducible runs).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        assert_eq!(Timestamp::parse(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse("1700000000"),
            Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 0
            })
        );
    }
}
