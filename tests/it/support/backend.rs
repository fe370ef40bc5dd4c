//! Fake backends on real sockets: a recording HTTP server, a black hole, and a server
//! that hangs up on every request.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::io::AsyncReadExt;

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

/// Extra response headers.
pub type Headers = Vec<(String, String)>;

type Handler = Arc<dyn Fn(&Seen) -> (Canned, Headers) + Send + Sync>;

/// A recording HTTP backend.
pub struct Backend {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
    handle: ServerHandle,
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
        Self::start_on(listener, move |s| (handler(s), Vec::new())).await
    }

    /// A backend on a free port whose answers carry extra headers.
    pub async fn start_with_headers(
        handler: impl Fn(&Seen) -> (Canned, Headers) + Send + Sync + 'static,
    ) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        Self::start_on(listener, handler).await
    }

    /// A backend on `port` (used to bring a dead backend back).
    pub async fn start_on_port(
        port: u16,
        handler: impl Fn(&Seen) -> Canned + Send + Sync + 'static,
    ) -> Backend {
        let listener = crate::support::rebind(port);
        Self::start_on(listener, move |s| (handler(s), Vec::new())).await
    }

    async fn start_on(
        listener: TcpListener,
        handler: impl Fn(&Seen) -> (Canned, Headers) + Send + Sync + 'static,
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
                        let (canned, headers) = handler(&seen);
                        s.lock().expect("lock").push(seen);
                        if !canned.delay.is_zero() {
                            tokio::time::sleep(canned.delay).await;
                        }
                        let mut response = HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(canned.status).expect("status"),
                        );
                        for (name, value) in headers {
                            response.append_header((name, value));
                        }
                        response.content_type(canned.content_type).body(canned.body)
                    }
                }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Backend {
            port,
            seen,
            hits,
            handle,
        }
    }

    /// Kills the backend: its connections are closed and its port refuses new ones once
    /// this returns.
    pub async fn stop(&self) {
        // "Graceful" with no grace period: waits until the worker has dropped every
        // connection, which a forced stop does not.
        self.handle.stop(true).await;
        // And it stays dead: the port cannot be handed to another test's server.
        crate::support::refuse_on(self.port);
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

/// Accepts connections, reads the request head, and hangs up without answering.
pub struct Closer {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    task: actix_rt::task::JoinHandle<()>,
}

impl Closer {
    pub async fn start() -> Closer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = actix_rt::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                actix_rt::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut head = Vec::new();
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        head.extend_from_slice(&buf[..n]);
                        if head.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    drop(socket);
                });
            }
        });
        Closer {
            port,
            accepted,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
