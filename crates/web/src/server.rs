//! The accept loop on the `web` thread: a current-thread tokio runtime,
//! at most [`MAX_CONNECTIONS`] connections (a semaphore), hyper's HTTP/1
//! with a header read timeout and a bounded header buffer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::api::{route, Answer};
use crate::{history, same_token, HistoryAccess, Shared, MAX_CONNECTIONS};

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Serves until the process ends.
pub(crate) fn run(
    listener: std::net::TcpListener,
    token: Option<String>,
    snap: Shared,
    hist: Arc<HistoryAccess>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wirewatch: web server: {e}");
            return;
        }
    };
    rt.block_on(accept_loop(listener, token.map(Arc::new), snap, hist));
}

async fn accept_loop(
    listener: std::net::TcpListener,
    token: Option<Arc<String>>,
    snap: Shared,
    hist: Arc<HistoryAccess>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wirewatch: web server: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (token, snap, hist) = (token.clone(), snap.clone(), hist.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |rq| {
                // History and forecasts read SQLite: on the blocking pool.
                let path = rq.uri().path().to_string();
                let blocking = history::handles(&path) && allowed(&rq, token.as_deref()).is_ok();
                let (hist, query) = (hist.clone(), rq.uri().query().map(str::to_string));
                let head = rq.method() == Method::HEAD;
                let answer = (!blocking).then(|| answer(&rq, token.as_deref(), &snap));
                async move {
                    let a = match answer {
                        Some(a) => a,
                        None => respond(history::serve(hist, path, query).await, head),
                    };
                    Ok::<_, Infallible>(a)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn authorized(rq: &Request<Incoming>, token: &str) -> bool {
    rq.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| same_token(given, token.as_bytes()))
}

/// The method and token checked: the error answer if they fail.
fn allowed(rq: &Request<Incoming>, token: Option<&String>) -> Result<(), Answer> {
    if rq.method() != Method::GET && rq.method() != Method::HEAD {
        Err(Answer::error(405, "only GET and HEAD are served"))
    } else if token.is_some_and(|t| !authorized(rq, t)) {
        Err(Answer::error(
            401,
            "missing or wrong token: send 'Authorization: Bearer TOKEN'",
        ))
    } else {
        Ok(())
    }
}

fn answer(rq: &Request<Incoming>, token: Option<&String>, snap: &Shared) -> Response<Full<Bytes>> {
    let a = allowed(rq, token)
        .err()
        .unwrap_or_else(|| route(rq.uri().path(), rq.uri().query(), &snap.load()));
    respond(a, rq.method() == Method::HEAD)
}

/// The HTTP response of `a` (without its body for `HEAD`).
fn respond(a: Answer, head: bool) -> Response<Full<Bytes>> {
    let len = a.body.len();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(a.body)
    };
    let mut r = Response::builder()
        .status(a.status)
        .header("content-type", a.content_type)
        .header("content-length", len)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff");
    if a.status == 405 {
        r = r.header("allow", "GET, HEAD");
    }
    if a.status == 401 {
        r = r.header("www-authenticate", "Bearer");
    }
    r.body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
