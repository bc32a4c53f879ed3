//! The axum routers of the state viewer and the preview server, the method filter and
//! `Host` check in front of both, the live-update streams and the embedded assets.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use maud::Markup;

use super::model::{self, RefView};
use super::pages::{self, Preview};
use super::{UiError, UiResult, allowed_hosts, host_allowed};
use crate::refs::Ref;
use crate::store::Store;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const LOGO: &str = include_str!("assets/logo.svg");

/// What the state viewer reads.
pub struct StateSource {
    /// The state store (opened by the caller; only read here).
    pub state: Arc<Store>,
    /// The intent store (only read here).
    pub intent: Arc<Store>,
    /// The clock, to tell which freezes are in force.
    pub clock: Arc<dyn crate::clock::Clock>,
    /// How often live pages look for a moved branch; for remote stores the caller passes
    /// at least the fetch interval, so live pages never fetch faster than the debounce.
    pub poll: Duration,
}

/// Evaluates the previewed package again (the caller's evaluation, with its environment):
/// the preview, or the error text to show.
pub type Evaluate = Arc<dyn Fn() -> Result<Preview, String> + Send + Sync>;

/// What the preview server serves.
pub struct PreviewSource {
    /// The package file, as an absolute path (watched for changes).
    pub path: PathBuf,
    /// The file as pages name it (relative to the repository root).
    pub name: String,
    /// Evaluates it, on every request of `/`.
    pub evaluate: Evaluate,
}

struct StateApp {
    src: StateSource,
    /// The overview of the last stores' version rendered, as (version, HTML).
    overview: Mutex<Option<(String, Arc<String>)>>,
}

/// One consistent view of each store, and their version.
struct Views<'a> {
    state: crate::store::View<'a>,
    intent: crate::store::View<'a>,
    version: String,
}

fn runtime() -> UiResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(UiError::Serve)
}

fn tokio_listener(listener: TcpListener) -> UiResult<tokio::net::TcpListener> {
    listener.set_nonblocking(true).map_err(UiError::Serve)?;
    tokio::net::TcpListener::from_std(listener).map_err(UiError::Serve)
}

/// Serves `router` on `listener` until Ctrl-C, calling `on_ready` once it answers.
fn serve(
    rt: &tokio::runtime::Runtime,
    listener: TcpListener,
    router: Router,
    on_ready: impl FnOnce(SocketAddr),
) -> UiResult<()> {
    let addr = listener.local_addr().map_err(UiError::Serve)?;
    let hosts = Arc::new(allowed_hosts(addr.ip()));
    let router = router.layer(middleware::from_fn_with_state(hosts, guard));
    rt.block_on(async move {
        let listener = tokio_listener(listener)?;
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        // The listener is bound and the accept loop spawned: connections made from now on
        // are answered.
        on_ready(addr);
        tokio::select! {
            r = server => match r {
                Ok(r) => r.map_err(UiError::Serve),
                Err(e) => Err(UiError::Serve(std::io::Error::other(e))),
            },
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// The filter in front of every route: only GET and HEAD (anything else 405), and only
/// requests whose `Host` names the bound address, `localhost` or `127.0.0.1` (403).
async fn guard(State(hosts): State<Arc<Vec<String>>>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: this server is read-only\n",
        )
            .into_response();
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &hosts) {
        return (
            StatusCode::FORBIDDEN,
            "forbidden: the Host header does not name this server\n",
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn static_routes(router: Router) -> Router {
    router
        .route(
            "/static/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/static/logo.svg",
            get(|| async { asset("image/svg+xml", LOGO) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { asset("image/svg+xml", LOGO) }),
        )
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

fn error_response(e: &UiError) -> Response {
    let (status, title) = match e {
        UiError::Glob(_) | UiError::Ref(_) => (StatusCode::BAD_REQUEST, "Bad request"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Error"),
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!("\ncaused by: {s}"));
        source = s.source();
    }
    html(status, pages::error(status.as_u16(), title, &message))
}

fn not_found(what: &str) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::error(404, "Not found", &format!("nothing is stored at {what}")),
    )
}

/// Runs `f` on a blocking thread (store reads are synchronous) and turns its page into a
/// response: `None` is a 404 naming `what`.
async fn page<F>(app: Arc<StateApp>, what: String, f: F) -> Response
where
    F: FnOnce(&StateApp) -> UiResult<Option<Response>> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(Ok(Some(res))) => res,
        Ok(Ok(None)) => not_found(&what),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&UiError::Serve(std::io::Error::other(e))),
    }
}

impl StateApp {
    /// Takes one view of each store (reads go through the store, so a remote store is
    /// fetched on its usual debounce).
    fn views(&self) -> UiResult<Views<'_>> {
        let state = self.src.state.view()?;
        let intent = self.src.intent.view()?;
        let version = pages::version(state.commit().as_deref(), intent.commit().as_deref());
        Ok(Views {
            state,
            intent,
            version,
        })
    }

    fn overview(&self) -> UiResult<Arc<String>> {
        let v = self.views()?;
        let holds = model::holds(&v.intent, self.src.clock.now())?;
        // A freeze that ends by its `until` changes the page without a commit.
        let key = format!(
            "{} {:?}",
            v.version,
            holds.frozen.keys().collect::<Vec<_>>()
        );
        let mut cache = self
            .overview
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((cached, page)) = &*cache
            && *cached == key
        {
            return Ok(page.clone());
        }
        let page =
            Arc::new(pages::overview(&model::overview(&v.state, holds)?, &v.version).into_string());
        *cache = Some((key, page.clone()));
        Ok(page)
    }

    fn ref_page(&self, r: &Ref) -> UiResult<Option<Markup>> {
        let v = self.views()?;
        let holds = model::holds(&v.intent, self.src.clock.now())?;
        let since = v.version.as_str();
        Ok(
            model::ref_view(&v.state, &v.intent, &holds, &self.src.state, r)?.map(
                |page| match page {
                    RefView::Package(p) => pages::package(&p, since),
                    RefView::Release(p) => pages::release(&p, since),
                    RefView::Run(p) => pages::run(&p, since),
                    RefView::Environment(p) => pages::environment(&p, since),
                    RefView::Generic(p) => pages::ref_page(&p, since),
                },
            ),
        )
    }

    fn outstanding(&self) -> UiResult<Markup> {
        let v = self.views()?;
        let plan = crate::plan::plan_views(&self.src.intent, &v.intent, &self.src.state, &v.state);
        Ok(pages::outstanding(
            &model::outstanding(&v.state, plan)?,
            &v.version,
        ))
    }

    fn match_page(&self, glob: &str) -> UiResult<Markup> {
        let v = self.views()?;
        Ok(pages::match_page(
            &model::match_page(&v.state, glob)?,
            &v.version,
        ))
    }

    /// The stores' version now ([`pages::version`]).
    fn version(&self) -> String {
        self.views().map(|v| v.version).unwrap_or_default()
    }
}

fn state_router(app: Arc<StateApp>) -> Router {
    let router = Router::new()
        .route(
            "/",
            get(|State(app): State<Arc<StateApp>>| async move {
                page(app, "/".into(), |app| {
                    let body = app.overview()?;
                    Ok(Some(Html(body.as_str().to_owned()).into_response()))
                })
                .await
            }),
        )
        .route(
            "/work",
            get(|State(app): State<Arc<StateApp>>| async move {
                page(app, "/work".into(), |app| {
                    Ok(Some(html(StatusCode::OK, app.outstanding()?)))
                })
                .await
            }),
        )
        .route(
            "/ref/{*r}",
            get(
                |State(app): State<Arc<StateApp>>, Path(text): Path<String>| async move {
                    page(app, text.clone(), move |app| {
                        let r = Ref::parse(&text)?;
                        Ok(app.ref_page(&r)?.map(|m| html(StatusCode::OK, m)))
                    })
                    .await
                },
            ),
        )
        .route(
            "/match/{*glob}",
            get(
                |State(app): State<Arc<StateApp>>, Path(glob): Path<String>| async move {
                    page(app, glob.clone(), move |app| {
                        Ok(Some(html(StatusCode::OK, app.match_page(&glob)?)))
                    })
                    .await
                },
            ),
        )
        .route("/events", get(state_events))
        .fallback(|| async { not_found("this address") })
        .with_state(app);
    static_routes(router)
}

/// `/events?since=<version>`: `data: connected`, then `data: reload` each time a store
/// branch moves (at once when the stores are no longer at `since`, the version the page
/// showed).
async fn state_events(
    State(app): State<Arc<StateApp>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let poll = app.src.poll.max(Duration::from_millis(200));
    let start = match query.get("since") {
        Some(since) => since.clone(),
        None => {
            let app = app.clone();
            tokio::task::spawn_blocking(move || app.version())
                .await
                .unwrap_or_default()
        }
    };
    let connected = stream::once(async {
        Ok::<_, std::convert::Infallible>(Event::default().data("connected"))
    });
    let changes = stream::unfold((app, start), move |(app, last)| async move {
        loop {
            let a = app.clone();
            let now = tokio::task::spawn_blocking(move || a.version())
                .await
                .unwrap_or_default();
            if now != last {
                return Some((Ok(Event::default().data("reload")), (app, now)));
            }
            tokio::time::sleep(poll).await;
        }
    });
    sse(stream::StreamExt::chain(connected, changes))
}

fn sse<S>(s: S) -> Response
where
    S: Stream<Item = Result<Event, std::convert::Infallible>> + Send + 'static,
{
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Serves the state viewer on `listener` until Ctrl-C; `on_ready` gets the address once
/// the server answers. Nothing it does writes a store.
///
/// # Errors
///
/// [`UiError::Serve`] when the runtime or the server fails.
pub fn serve_state(
    listener: TcpListener,
    source: StateSource,
    on_ready: impl FnOnce(SocketAddr),
) -> UiResult<()> {
    let rt = runtime()?;
    let app = Arc::new(StateApp {
        src: source,
        overview: Mutex::new(None),
    });
    serve(&rt, listener, state_router(app), on_ready)
}

/// Serves the preview of one package file on `listener` until Ctrl-C: `/` evaluates it
/// on every request (an error is a 500 page), `/watch` sends `data: connected` and then
/// `data: reload` each time the file changes.
///
/// # Errors
///
/// [`UiError::Watch`] when the file's folder cannot be watched, [`UiError::Serve`] when
/// the runtime or the server fails.
pub fn serve_preview(
    listener: TcpListener,
    source: PreviewSource,
    on_ready: impl FnOnce(SocketAddr),
) -> UiResult<()> {
    use notify::Watcher;
    let rt = runtime()?;
    let (tx, _) = tokio::sync::broadcast::channel::<()>(16);
    let file_name = source.path.file_name().map(ToOwned::to_owned);
    let sender = tx.clone();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev
            && !matches!(ev.kind, notify::EventKind::Access(_))
            && ev
                .paths
                .iter()
                .any(|p| p.file_name().map(ToOwned::to_owned) == file_name)
        {
            // No receiver (no page open) is fine.
            let _ = sender.send(());
        }
    })
    .map_err(|source_err| UiError::Watch {
        path: source.path.display().to_string(),
        source: source_err,
    })?;
    // Watch the folder: editors often replace the file instead of writing it in place.
    let dir = source
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), ToOwned::to_owned);
    watcher
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .map_err(|e| UiError::Watch {
            path: dir.display().to_string(),
            source: e,
        })?;
    let source = Arc::new(source);
    let router = Router::new()
        .route(
            "/",
            get(
                |State((src, _)): State<(
                    Arc<PreviewSource>,
                    tokio::sync::broadcast::Sender<()>,
                )>| async move {
                    let name = src.name.clone();
                    let eval = src.evaluate.clone();
                    match tokio::task::spawn_blocking(move || eval()).await {
                        Ok(Ok(p)) => html(StatusCode::OK, pages::preview(&p)),
                        Ok(Err(message)) => html(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            pages::preview_error(&name, &message),
                        ),
                        Err(e) => html(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            pages::preview_error(&name, &e.to_string()),
                        ),
                    }
                },
            ),
        )
        .route(
            "/watch",
            get(
                |State((_, tx)): State<(
                    Arc<PreviewSource>,
                    tokio::sync::broadcast::Sender<()>,
                )>| async move {
                    let rx = tx.subscribe();
                    let connected = stream::once(async { Ok(Event::default().data("connected")) });
                    let changes = stream::unfold(rx, |mut rx| async move {
                        match rx.recv().await {
                            // Lagged: changes were missed, which is a change.
                            Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                Some((Ok(Event::default().data("reload")), rx))
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
                        }
                    });
                    sse(stream::StreamExt::chain(connected, changes))
                },
            ),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, Body::from("not found\n")) })
        .with_state((source, tx));
    let result = serve(&rt, listener, static_routes(router), on_ready);
    drop(watcher);
    result
}
