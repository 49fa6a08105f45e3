//! The accept loop on the `web` thread: a current-thread tokio runtime,
//! at most [`MAX_CONNECTIONS`] connections (a semaphore), TLS when
//! configured (the handshake within the header timeout), hyper's HTTP/1
//! with a header read timeout and a bounded header buffer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::api::{route, Answer};
use crate::assets;
use crate::metrics::Format;
use crate::{history, HistoryAccess, Shared, Tokens};

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Serves until the process ends.
pub(crate) fn run(
    listener: std::net::TcpListener,
    tokens: Tokens,
    tls: Option<TlsAcceptor>,
    hub: Shared,
    hist: Arc<HistoryAccess>,
    max_connections: usize,
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
    let serving = Serving {
        tokens: Arc::new(tokens),
        hub,
        hist,
        max_connections,
    };
    rt.block_on(accept_loop(listener, tls, serving));
}

/// What every connection serves from.
#[derive(Clone)]
struct Serving {
    tokens: Arc<Tokens>,
    hub: Shared,
    hist: Arc<HistoryAccess>,
    /// Connections served at once (a semaphore); more wait in the backlog.
    max_connections: usize,
}

async fn accept_loop(listener: std::net::TcpListener, tls: Option<TlsAcceptor>, serving: Serving) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wirewatch: web server: {e}");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(serving.max_connections));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (serving, tls) = (serving.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                // A client that does not finish its handshake in time is dropped.
                Some(tls) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await
                    {
                        serve(s, serving).await;
                    }
                }
                None => serve(stream, serving).await,
            }
            drop(permit);
        });
    }
}

/// Serves HTTP/1 on one connection (plain or TLS) until it closes.
async fn serve<S>(stream: S, serving: Serving)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |rq| {
        let Serving {
            tokens, hub, hist, ..
        } = serving.clone();
        // History and forecasts read SQLite: on the blocking pool.
        let path = rq.uri().path().to_string();
        let blocking = history::handles(&path) && allowed(&rq, &tokens).is_ok();
        let query = rq.uri().query().map(str::to_string);
        let head = rq.method() == Method::HEAD;
        let answer = (!blocking).then(|| answer(&rq, &tokens, &hub));
        async move {
            let a = match answer {
                Some(a) => a,
                None => respond(history::serve(hist, path.clone(), query).await, head, &path),
            };
            hub.count_answer(a.status().as_u16());
            Ok::<_, Infallible>(a)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A response body: whole, or a stream of SSE frames.
type Body = Either<Full<Bytes>, Channel<Bytes>>;

/// The value of header `name`, if any.
fn header<'a>(rq: &'a Request<Incoming>, name: &str) -> Option<&'a [u8]> {
    rq.headers().get(name).map(|v| v.as_bytes())
}

/// The method and token checked: the error answer if they fail.
fn allowed(rq: &Request<Incoming>, tokens: &Tokens) -> Result<(), Answer> {
    if rq.method() != Method::GET && rq.method() != Method::HEAD {
        Err(Answer::error(405, "only GET and HEAD are served"))
    } else if !tokens.allows(rq.uri().path(), header(rq, "authorization")) {
        Err(Answer::error(
            401,
            "missing or wrong token: send 'Authorization: Bearer TOKEN'",
        ))
    } else {
        Ok(())
    }
}

fn answer(rq: &Request<Incoming>, tokens: &Tokens, hub: &Shared) -> Response<Body> {
    let head = rq.method() == Method::HEAD;
    let path = rq.uri().path();
    let a = match allowed(rq, tokens) {
        Err(refused) => refused,
        Ok(()) if path == "/api/v1/events" => return events(hub, head),
        Ok(()) if path == crate::auth::METRICS_PATH => {
            crate::metrics::answer(hub, Format::from_accept(header(rq, "accept")))
        }
        Ok(()) => assets::not_modified(path, header(rq, "if-none-match"))
            .unwrap_or_else(|| route(path, rq.uri().query(), hub)),
    };
    respond(a, head, path)
}

/// The HTTP response of `a` to a request for `path` (without its body
/// for `HEAD`).
fn respond(a: Answer, head: bool, path: &str) -> Response<Body> {
    let len = a.body.len();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(a.body)
    };
    let mut r = headers(a.status, a.content_type, assets::cache_control(path))
        .header("content-length", len);
    if let Some(tag) = assets::etag(path).filter(|_| a.status < 400) {
        r = r.header("etag", tag);
    }
    if a.status == 405 {
        r = r.header("allow", "GET, HEAD");
    }
    if a.status == 401 {
        r = r.header("www-authenticate", "Bearer");
    }
    r.body(Either::Left(Full::new(body)))
        .unwrap_or_else(|_| Response::new(Either::Left(Full::new(Bytes::new()))))
}

/// The headers every answer has.
fn headers(status: u16, content_type: &str, cache: &str) -> hyper::http::response::Builder {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", cache)
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", assets::CSP)
        .header("referrer-policy", assets::REFERRER_POLICY)
}

/// `/api/v1/events`: a stream, or 503 when [`crate::hub::MAX_SSE_CLIENTS`]
/// are connected.
fn events(hub: &Shared, head: bool) -> Response<Body> {
    let empty = || Either::Left(Full::new(Bytes::new()));
    let r = match hub.join_sse() {
        _ if head => headers(200, "text/event-stream", "no-store").body(empty()),
        Some(place) => headers(200, "text/event-stream", "no-store")
            .header("x-accel-buffering", "no")
            .body(Either::Right(crate::sse::stream(hub.clone(), place))),
        None => {
            let a = Answer::error(503, "too many event streams open: try again later");
            headers(503, a.content_type, "no-store")
                .header("retry-after", "5")
                .body(Either::Left(Full::new(Bytes::from(a.body))))
        }
    };
    r.unwrap_or_else(|_| Response::new(empty()))
}
