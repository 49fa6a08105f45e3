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
use crate::assets;
use crate::{same_token, Shared, MAX_CONNECTIONS};

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Serves until the process ends.
pub(crate) fn run(listener: std::net::TcpListener, token: Option<String>, snap: Shared) {
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
    rt.block_on(accept_loop(listener, token.map(Arc::new), snap));
}

async fn accept_loop(listener: std::net::TcpListener, token: Option<Arc<String>>, snap: Shared) {
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
        let (token, snap) = (token.clone(), snap.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |rq| {
                let answer = answer(&rq, token.as_deref(), &snap);
                async move { Ok::<_, Infallible>(answer) }
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

/// The request's `If-None-Match` header, if any.
fn if_none_match(rq: &Request<Incoming>) -> Option<&[u8]> {
    rq.headers()
        .get(hyper::header::IF_NONE_MATCH)
        .map(|v| v.as_bytes())
}

fn answer(rq: &Request<Incoming>, token: Option<&String>, snap: &Shared) -> Response<Full<Bytes>> {
    let head = rq.method() == Method::HEAD;
    let a = if rq.method() != Method::GET && !head {
        Answer::error(405, "only GET and HEAD are served")
    } else if token.is_some_and(|t| !authorized(rq, t)) {
        Answer::error(
            401,
            "missing or wrong token: send 'Authorization: Bearer TOKEN'",
        )
    } else if let Some(unchanged) = assets::not_modified(rq.uri().path(), if_none_match(rq)) {
        unchanged
    } else {
        route(rq.uri().path(), rq.uri().query(), &snap.load())
    };
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
        .header("cache-control", assets::cache_control(rq.uri().path()))
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", assets::CSP)
        .header("referrer-policy", assets::REFERRER_POLICY);
    if let Some(tag) = assets::etag(rq.uri().path()).filter(|_| a.status < 400) {
        r = r.header("etag", tag);
    }
    if a.status == 405 {
        r = r.header("allow", "GET, HEAD");
    }
    if a.status == 401 {
        r = r.header("www-authenticate", "Bearer");
    }
    r.body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
