//! The `webhook` action: POST the alert JSON, retrying with back-off on
//! connection errors, time-outs, 5xx and 429; never following redirects.

use std::time::{Duration, Instant};

use super::http::{self, AttemptError, Deadline, Target};
use super::stop::Stop;
use super::tls::Tls;
use super::{Hook, HookResult};

/// The wait before each retry: `first`, doubling, at most `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry.
    pub first: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s, 8 s, 8 s, …
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// The wait after attempt number `attempt` (1 for the first) failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .map_or(self.cap, |d| d.min(self.cap))
    }
}

/// Delivers a webhook, retries included; an exec hook is not for this lane.
pub(crate) fn deliver(
    hook: &Hook,
    payload: &[u8],
    backoff: &Backoff,
    tls: &Tls,
    stop: &Stop,
) -> HookResult {
    let Hook::Webhook {
        url,
        timeout,
        retries,
        headers,
        ca,
    } = hook
    else {
        return HookResult::Failed {
            reason: "an exec hook on the webhook lane".into(),
            attempts: 0,
        };
    };
    let request = http::request(url, headers, payload);
    let to = Target {
        url,
        ca: ca.as_ref(),
    };
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let deadline = Deadline {
            end: Instant::now() + *timeout,
            stop,
        };
        let reason = match http::post(&to, &request, deadline, tls).and_then(verdict) {
            Ok(status) => {
                return HookResult::Sent {
                    status,
                    attempts,
                    elapsed: start.elapsed(),
                }
            }
            Err(AttemptError::Retry(r)) if attempts <= *retries => r,
            Err(AttemptError::Retry(r) | AttemptError::Fatal(r)) => {
                return HookResult::Failed {
                    reason: r,
                    attempts,
                }
            }
        };
        if !stop.sleep(backoff.delay(attempts)) {
            return HookResult::Failed {
                reason: format!("{reason}; no retry: wirewatch was stopping"),
                attempts,
            };
        }
    }
}

/// 2xx is delivered; 5xx and 429 are worth another try; redirects and
/// other answers are final.
fn verdict(status: u16) -> Result<u16, AttemptError> {
    match status {
        200..=299 => Ok(status),
        429 | 500..=599 => Err(AttemptError::Retry(format!("HTTP {status}"))),
        300..=399 => Err(AttemptError::Fatal(format!(
            "HTTP {status}: redirects are not followed"
        ))),
        _ => Err(AttemptError::Fatal(format!("HTTP {status}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 8, 8]);
        assert_eq!(b.delay(u32::MAX), b.cap);
        let ms = Backoff {
            first: Duration::from_millis(3),
            cap: Duration::from_millis(10),
        };
        assert_eq!(ms.delay(1), Duration::from_millis(3));
        assert_eq!(ms.delay(3), Duration::from_millis(10));
    }

    #[test]
    fn only_server_trouble_and_rate_limits_are_retried() {
        assert_eq!(verdict(200), Ok(200));
        assert_eq!(verdict(204), Ok(204));
        for s in [429, 500, 502, 503] {
            assert!(matches!(verdict(s), Err(AttemptError::Retry(_))), "{s}");
        }
        for s in [301, 302, 400, 401, 403, 404, 100] {
            assert!(matches!(verdict(s), Err(AttemptError::Fatal(_))), "{s}");
        }
    }
}
