//! Changes of direction made by mediation rather than by a backend.

use actix_web::http::header::CONTENT_TYPE;

use super::{Direction, MessageContext};

impl MessageContext {
    /// `loopback`: the current request becomes the response, without a backend. Only the
    /// headers mediation set (and the body's `Content-Type`) stay: the client's request
    /// headers must not be echoed back.
    pub(crate) fn loop_back(&mut self) {
        let mut kept = actix_web::http::header::HeaderMap::new();
        for (name, value) in self.headers_set_by_mediation() {
            kept.append(name.clone(), value.clone());
        }
        if !kept.contains_key(CONTENT_TYPE)
            && !self.body.is_empty()
            && let Some(ct) = self.headers.get(CONTENT_TYPE)
        {
            kept.insert(CONTENT_TYPE, ct.clone());
        }
        self.headers = kept;
        self.direction = Direction::Response;
        self.status = None;
    }
}
