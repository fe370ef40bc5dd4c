//! The front actor: one per listener, owning its binding, its draining and its switch to
//! a new configuration generation.
//!
//! It is control, not data: it binds the listener and starts the front's workers, is told
//! when a reload switches the generation, and stops and drains the listener. Requests never
//! pass through it: each one is handled on the worker that accepted it, which reads the
//! current generation from the lock-free snapshot (`server::Shared::runtime`) when the
//! request starts and keeps that generation to its end, so a switch never waits for a
//! request and a request never waits in a mailbox.

use std::io;
use std::net::SocketAddr;

use actix::prelude::*;
use actix_web::dev::ServerHandle;

use super::grpc::GrpcFront;
use crate::engine::live::{FrontReport, GetFront, Install};

/// What a front actor holds of its listener.
#[derive(Debug)]
pub(crate) enum Listening {
    /// An actix-web server (the HTTP front, the management API) and its task.
    Http {
        handle: ServerHandle,
        task: Option<actix_rt::task::JoinHandle<io::Result<()>>>,
    },
    /// The gRPC front.
    Grpc(Option<GrpcFront>),
}

/// Stops accepting and drains the exchanges in flight (up to the drain timeout when
/// `graceful`); answers once the listener is closed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Drain {
    pub(crate) graceful: bool,
}

/// One listener's actor.
#[derive(Debug)]
pub(crate) struct FrontActor {
    name: &'static str,
    addr: SocketAddr,
    listening: Listening,
    generation: u64,
}

// === impl FrontActor ===

impl FrontActor {
    /// Starts the actor of the front `name`, listening at `addr`, serving generation 1.
    pub(crate) fn start(name: &'static str, addr: SocketAddr, listening: Listening) -> Addr<Self> {
        FrontActor {
            name,
            addr,
            listening,
            generation: 1,
        }
        .start()
    }

    /// Starts the actor of an actix-web `server` (bound to `addr`), whose task it spawns on
    /// this thread.
    pub(crate) fn serve_http(
        name: &'static str,
        addr: SocketAddr,
        server: actix_web::dev::Server,
    ) -> Addr<Self> {
        let handle = server.handle();
        let task = Some(actix_rt::spawn(server));
        Self::start(name, addr, Listening::Http { handle, task })
    }
}

impl Actor for FrontActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(front = self.name, addr = %self.addr, "Front actor started");
    }
}

impl Handler<Install> for FrontActor {
    type Result = ();

    fn handle(&mut self, msg: Install, _ctx: &mut Self::Context) {
        tracing::debug!(
            front = self.name,
            from = self.generation,
            to = msg.generation,
            "Front switched generation"
        );
        self.generation = msg.generation;
    }
}

impl Handler<GetFront> for FrontActor {
    type Result = MessageResult<GetFront>;

    fn handle(&mut self, _msg: GetFront, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(FrontReport {
            name: self.name,
            address: self.addr.to_string(),
            generation: self.generation,
        })
    }
}

impl Handler<Drain> for FrontActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Drain, _ctx: &mut Self::Context) -> Self::Result {
        let name = self.name;
        let listening = std::mem::replace(&mut self.listening, Listening::Grpc(None));
        let drain = async move {
            match listening {
                Listening::Http { handle, task } => {
                    handle.stop(msg.graceful).await;
                    if let Some(task) = task {
                        match task.await {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => {
                                tracing::warn!(front = name, %error, "A listener stopped with an error")
                            }
                            Err(error) => {
                                tracing::warn!(front = name, %error, "A listener task failed")
                            }
                        }
                    }
                }
                Listening::Grpc(Some(front)) => front.stop(msg.graceful).await,
                Listening::Grpc(None) => {}
            }
        };
        Box::pin(drain.into_actor(self).map(|(), act, ctx| {
            tracing::debug!(
                front = act.name,
                generation = act.generation,
                "Front drained"
            );
            ctx.stop();
        }))
    }
}
