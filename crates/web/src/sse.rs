//! `/api/v1/events`: Server-Sent Events. Each client has a task that
//! forwards the hub's events (the newest snapshot first) into its response
//! body through a channel of a few frames. A client that does not read for
//! [`STALL`] is dropped; one that falls more than the hub's buffer behind
//! skips to the newest and is told how many events it missed.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use tokio::sync::broadcast::error::RecvError;

use crate::hub::{Shared, SsePlace};

/// A comment line sent when nothing else was for this long (keeps proxies
/// and idle timeouts from closing the stream).
pub const PING_EVERY: Duration = Duration::from_secs(15);

/// How long a frame may wait for a client that does not read.
pub const STALL: Duration = Duration::from_secs(10);

/// Frames buffered per client between its task and its socket.
const FRAMES: usize = 4;

/// The reconnection delay given to clients, in milliseconds.
const RETRY_MS: u32 = 2_000;

/// Starts streaming to a new client holding `place`: the body to answer
/// with (its task runs on the current runtime).
pub fn stream(hub: Shared, place: SsePlace) -> Channel<Bytes> {
    let (tx, body) = Channel::new(FRAMES);
    tokio::spawn(pump(hub, tx, place));
    body
}

async fn pump(hub: Shared, mut tx: Sender<Bytes>, place: SsePlace) {
    let (first, mut rx) = hub.subscribe();
    let mut hello = format!("retry: {RETRY_MS}\n\n").into_bytes();
    hello.extend_from_slice(&first);
    if !send(&hub, &mut tx, Bytes::from(hello)).await {
        return;
    }
    loop {
        let frame = match tokio::time::timeout(PING_EVERY, rx.recv()).await {
            Ok(Ok(f)) => f,
            Ok(Err(RecvError::Lagged(n))) => {
                hub.sse_missed
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                Bytes::from(format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n"))
            }
            Ok(Err(RecvError::Closed)) => break,
            Err(_) => Bytes::from_static(b": ping\n\n"),
        };
        if !send(&hub, &mut tx, frame).await {
            break;
        }
    }
    drop(place);
}

/// Sends `frame`; false when the client is gone or has not read for
/// [`STALL`] (counted with the refused clients).
async fn send(hub: &Shared, tx: &mut Sender<Bytes>, frame: Bytes) -> bool {
    match tokio::time::timeout(STALL, tx.send_data(frame)).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            hub.sse_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    /// A client that stops reading falls behind the hub's buffer: when it
    /// reads again it is told how many events it missed, and they are
    /// counted.
    #[test]
    fn a_client_that_falls_behind_is_told_and_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let hub = crate::shared();
            let place = hub.join_sse().unwrap();
            let mut body = stream(hub.clone(), place);
            // The first frame (retry and the current snapshot) is there.
            let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert!(first.starts_with(b"retry: 2000\n\n"));
            // Let the client's task subscribe and wait, then overflow it.
            tokio::task::yield_now().await;
            for i in 0..200 {
                hub.push_alert(json!({ "n": i }));
            }
            let mut text = String::new();
            while !text.contains("event: lagged") {
                let f = body.frame().await.unwrap().unwrap().into_data().unwrap();
                text.push_str(std::str::from_utf8(&f).unwrap());
            }
            let missed = hub.sse_missed.load(Ordering::Relaxed);
            assert!(
                missed > 0 && text.contains(&format!("{{\"missed\":{missed}}}")),
                "{text}"
            );
        });
    }
}
