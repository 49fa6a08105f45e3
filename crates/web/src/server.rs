//! The accept loop on the `web` thread: a current-thread tokio runtime,
//! at most [`MAX_CONNECTIONS`] connections (a semaphore), TLS when
//! configured (the handshake within the header timeout), hyper's HTTP/1
//! with a header read timeout and a bounded header buffer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::api::{route, Answer};
use crate::metrics::Format;
use crate::{Shared, Tokens, MAX_CONNECTIONS};

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Serves until the process ends.
pub(crate) fn run(
    listener: std::net::TcpListener,
    tokens: Tokens,
    tls: Option<TlsAcceptor>,
    snap: Shared,
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
    rt.block_on(accept_loop(listener, Arc::new(tokens), tls, snap));
}

async fn accept_loop(
    listener: std::net::TcpListener,
    tokens: Arc<Tokens>,
    tls: Option<TlsAcceptor>,
    snap: Shared,
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
        let (tokens, snap, tls) = (tokens.clone(), snap.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                // A client that does not finish its handshake in time is dropped.
                Some(tls) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await
                    {
                        serve(s, tokens, snap).await;
                    }
                }
                None => serve(stream, tokens, snap).await,
            }
            drop(permit);
        });
    }
}

/// Serves HTTP/1 on one connection (plain or TLS) until it closes.
async fn serve<S>(stream: S, tokens: Arc<Tokens>, snap: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |rq| {
        let answer = answer(&rq, &tokens, &snap);
        async move { Ok::<_, Infallible>(answer) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn answer(rq: &Request<Incoming>, tokens: &Tokens, snap: &Shared) -> Response<Full<Bytes>> {
    let head = rq.method() == Method::HEAD;
    let a = if rq.method() != Method::GET && !head {
        Answer::error(405, "only GET and HEAD are served")
    } else if !tokens.allows(rq.uri().path(), header(rq, "authorization")) {
        Answer::error(
            401,
            "missing or wrong token: send 'Authorization: Bearer TOKEN'",
        )
    } else if rq.uri().path() == crate::auth::METRICS_PATH {
        crate::metrics::answer(&snap.load(), Format::from_accept(header(rq, "accept")))
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

/// The value of header `name`, if any.
fn header<'a>(rq: &'a Request<Incoming>, name: &str) -> Option<&'a [u8]> {
    rq.headers().get(name).map(|v| v.as_bytes())
}
