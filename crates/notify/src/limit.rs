//! The per-channel-instance rate limiter.
//!
//! `per_minute = n` means: never more than `n` sends in any 60-second window, with bursts of up to
//! `b = clamp(n / 4, 1, 3)` back to back. GCRA (governor) with burst `b` and one cell every
//! `60 s / (n - b + 1)` gives exactly that: `b` at once, then one per period, so a window holds
//! `b + (n - b + 1) - 1 = n`. The long-run rate is a little under `n` (18 a minute for 20) — the
//! price of never tripping the robot's own limit (WeCom and DingTalk mute a robot that exceeds it).
//!
//! The limiter waits for a free cell when it is at most [`MAX_WAIT`] away (a burst of messages to
//! a fast channel goes out at its rate instead of being rescheduled seconds later); a longer wait
//! is `Retryable { reason: "local rate limit", retry_after }` and the delivery loop reschedules it.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use yuqing_core::notify::NotifyError;

/// The longest a send waits for the limiter before it is rescheduled instead.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct Limiter {
    inner: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

/// The burst and the replenishment period for `per_minute` (at least 1).
pub(crate) fn shape(per_minute: u32) -> (u32, Duration) {
    let n = per_minute.max(1);
    let burst = (n / 4).clamp(1, 3);
    // Rounded up, so that `n - b + 1` periods are never shorter than a minute.
    let period = Duration::from_nanos(60_000_000_000u64.div_ceil(u64::from(n - burst + 1)));
    (burst, period)
}

impl Limiter {
    pub(crate) fn per_minute(per_minute: u32) -> Self {
        let (burst, period) = shape(per_minute);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Limiter { inner: RateLimiter::direct(quota) }
    }

    /// Takes one cell, or says how long to wait.
    pub(crate) fn check(&self) -> Result<(), NotifyError> {
        match self.inner.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.inner.clock().now());
                Err(NotifyError::Retryable { reason: "local rate limit".into(), retry_after: Some(wait) })
            }
        }
    }

    /// Takes one cell, waiting for it when it comes within [`MAX_WAIT`]; otherwise says how long.
    pub(crate) async fn acquire(&self) -> Result<(), NotifyError> {
        loop {
            match self.check() {
                Err(NotifyError::Retryable { retry_after: Some(w), .. }) if w <= MAX_WAIT => {
                    tokio::time::sleep(w).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_of_a_minute_exceeds_per_minute() {
        for n in [1u32, 2, 3, 4, 5, 7, 8, 12, 20, 100, 1000] {
            let (b, t) = shape(n);
            assert!((1..=3).contains(&b) && b <= n);
            // b at t=0, then one every period: count those before 60 s.
            let mut count = b as u64;
            let mut at = t;
            while at < Duration::from_secs(60) {
                count += 1;
                at += t;
            }
            assert_eq!(count, u64::from(n), "n = {n}: burst {b}, period {t:?}");
        }
    }

    #[tokio::test]
    async fn acquire_waits_out_a_short_wait_and_refuses_a_long_one() {
        let fast = Limiter::per_minute(600); // one every 0.1 s after the burst
        let t = std::time::Instant::now();
        for _ in 0..6 {
            fast.acquire().await.expect("short waits are waited out");
        }
        assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
        let slow = Limiter::per_minute(20);
        for _ in 0..3 {
            slow.acquire().await.expect("burst");
        }
        assert!(matches!(slow.acquire().await, Err(NotifyError::Retryable { .. })), "3 s away: rescheduled");
    }

    #[test]
    fn refuses_past_the_burst_with_a_wait() {
        let l = Limiter::per_minute(20);
        for _ in 0..3 {
            l.check().expect("burst of 3");
        }
        match l.check() {
            Err(NotifyError::Retryable { reason, retry_after: Some(w) }) => {
                assert_eq!(reason, "local rate limit");
                assert!(w > Duration::from_secs(2) && w <= Duration::from_millis(3334), "{w:?}");
            }
            other => panic!("expected a local rate limit, got {other:?}"),
        }
    }
}
