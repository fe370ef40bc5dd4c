//! Fake backends on real sockets: a recording HTTP server, and a black hole.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Raw path and query, as received.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the backend answers.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub delay: Duration,
}

impl Canned {
    pub fn ok(body: &str) -> Canned {
        Canned {
            status: 200,
            body: body.as_bytes().to_vec(),
            content_type: "text/plain",
            delay: Duration::ZERO,
        }
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Canned + Send + Sync>;

/// A recording HTTP backend.
pub struct Backend {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
}

impl Backend {
    /// A backend that answers 200 with a body naming itself.
    pub async fn named(name: &str) -> Backend {
        let body = name.to_owned();
        Self::start(move |_| Canned::ok(&body)).await
    }

    /// A backend on a free port, answering with `handler`.
    pub async fn start(handler: impl Fn(&Seen) -> Canned + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        Self::start_on(listener, handler).await
    }

    /// A backend on `port` (used to bring a dead backend back).
    pub async fn start_on_port(
        port: u16,
        handler: impl Fn(&Seen) -> Canned + Send + Sync + 'static,
    ) -> Backend {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind backend port");
        Self::start_on(listener, handler).await
    }

    async fn start_on(
        listener: TcpListener,
        handler: impl Fn(&Seen) -> Canned + Send + Sync + 'static,
    ) -> Backend {
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let (s, h) = (seen.clone(), hits.clone());
        let server = HttpServer::new(move || {
            let (s, h, handler) = (s.clone(), h.clone(), handler.clone());
            App::new()
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                    let (s, h, handler) = (s.clone(), h.clone(), handler.clone());
                    async move {
                        let seen = Seen {
                            method: req.method().to_string(),
                            uri: req.uri().to_string(),
                            headers: req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect(),
                            body: body.to_vec(),
                        };
                        h.fetch_add(1, Ordering::SeqCst);
                        let canned = handler(&seen);
                        s.lock().expect("lock").push(seen);
                        if !canned.delay.is_zero() {
                            tokio::time::sleep(canned.delay).await;
                        }
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(canned.status).expect("status"),
                        )
                        .content_type(canned.content_type)
                        .body(canned.body)
                    }
                }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_rt::spawn(server);
        Backend { port, seen, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("the backend saw no request")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

/// Accepts connections and never answers.
pub struct BlackHole {
    pub port: u16,
    task: actix_rt::task::JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = actix_rt::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        BlackHole { port, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}
