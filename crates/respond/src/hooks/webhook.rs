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

/// Consecutive failed deliveries to one URL after which it is not tried
/// for [`BREAKER_PAUSE`].
pub const BREAKER_FAILURES: u32 = 3;
/// How long a failing URL is left alone before one delivery tries it again.
pub const BREAKER_PAUSE: Duration = Duration::from_secs(60);
/// URLs the breaker remembers (a policy names a handful; past this the
/// oldest entry goes).
const BREAKER_URLS: usize = 64;

/// A circuit breaker per URL: a dead receiver costs its timeouts and
/// retries only [`BREAKER_FAILURES`] times in a row; then its deliveries
/// fail at once ("not sent") for [`BREAKER_PAUSE`], so the webhooks to
/// other URLs behind it in the lane are not held up, and then one delivery
/// tries it again.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    /// URL → (failed deliveries in a row, paused until).
    urls: Vec<(String, u32, Option<Instant>)>,
}

impl Breaker {
    /// Why a delivery to `url` is not tried at `now`, if it is not.
    pub(crate) fn refuse(&self, url: &str, now: Instant) -> Option<String> {
        let (_, failures, until) = self.urls.iter().find(|(u, ..)| u == url)?;
        match until {
            Some(t) if now < *t => Some(format!(
                "not sent: the last {failures} deliveries to this URL failed; tried again in {} s",
                t.duration_since(now).as_secs().max(1)
            )),
            _ => None,
        }
    }

    /// Records how a delivery to `url` ended at `now`.
    pub(crate) fn record(&mut self, url: &str, delivered: bool, now: Instant) {
        let i = match self.urls.iter().position(|(u, ..)| u == url) {
            Some(i) => i,
            None if delivered => return,
            None => {
                if self.urls.len() == BREAKER_URLS {
                    self.urls.remove(0);
                }
                self.urls.push((url.to_string(), 0, None));
                self.urls.len() - 1
            }
        };
        let e = &mut self.urls[i];
        if delivered {
            e.1 = 0;
            e.2 = None;
            return;
        }
        e.1 += 1;
        if e.1 >= BREAKER_FAILURES {
            e.2 = Some(now + BREAKER_PAUSE);
        }
    }
}

/// [`deliver`] behind the breaker: a URL that failed too often in a row is
/// not tried until its pause is over.
pub(crate) fn deliver_guarded(
    breaker: &mut Breaker,
    hook: &Hook,
    payload: &[u8],
    backoff: &Backoff,
    tls: &Tls,
    stop: &Stop,
) -> HookResult {
    let url = match hook {
        Hook::Webhook { url, .. } => url.to_string(),
        Hook::Exec { .. } => String::new(),
    };
    if let Some(reason) = breaker.refuse(&url, Instant::now()) {
        return HookResult::Failed {
            reason,
            attempts: 0,
        };
    }
    let result = deliver(hook, payload, backoff, tls, stop);
    let delivered = matches!(result, HookResult::Sent { .. });
    breaker.record(&url, delivered, Instant::now());
    result
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

    #[test]
    fn a_url_failing_three_times_in_a_row_is_paused_then_tried_again() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        let u = "http://dead.example/x";
        for k in 0..BREAKER_FAILURES {
            assert_eq!(b.refuse(u, t0), None, "failure {k}");
            b.record(u, false, t0);
        }
        let why = b.refuse(u, t0).expect("paused");
        assert!(
            why.starts_with("not sent: the last 3 deliveries to this URL failed"),
            "{why}"
        );
        // Other URLs are not held up.
        assert_eq!(b.refuse("http://alive.example/x", t0), None);
        // After the pause one delivery is tried; a success closes it.
        let later = t0 + BREAKER_PAUSE;
        assert_eq!(b.refuse(u, later), None);
        b.record(u, true, later);
        b.record(u, false, later);
        assert_eq!(b.refuse(u, later), None, "one failure after a success");
    }

    #[test]
    fn the_breaker_remembers_a_bounded_number_of_urls() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        for k in 0..BREAKER_URLS + 10 {
            b.record(&format!("http://h{k}.example/"), false, t0);
        }
        assert_eq!(b.urls.len(), BREAKER_URLS);
        // Delivered URLs are not remembered at all.
        b.record("http://fine.example/", true, t0);
        assert_eq!(b.urls.len(), BREAKER_URLS);
    }
}
