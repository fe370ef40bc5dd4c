//! Reads a backend's stream limit from its connection preface as the bytes pass to hyper.
//!
//! hyper does not say when the backend's first SETTINGS frame has arrived, and h2 queues
//! calls past the backend's `MAX_CONCURRENT_STREAMS` behind ones that may never end. The
//! pool therefore learns the limit here, from the first frame the backend sends (RFC 9113
//! §3.4: a SETTINGS frame), before it lets calls onto the connection. After that frame
//! the bytes pass through untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::base::grpc::h2::{MAX_CONCURRENT_STREAMS, SETTINGS};

/// The largest preface payload read: a SETTINGS frame of every known setting, many times.
const MAX_PREFACE: usize = 16 * 1024;

/// What the preface said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preface {
    /// The backend's stream limit (`usize::MAX` when it announces none).
    Limit(usize),
    /// The connection ended, or its first frame was not a SETTINGS frame.
    Unusable,
}

/// `io`, watched until the backend's first frame; `seen` is called once with what it said.
pub(crate) struct Watched<I, F> {
    io: I,
    seen: Option<F>,
    frame: Vec<u8>,
}

impl<I, F: FnOnce(Preface)> Watched<I, F> {
    pub(crate) fn new(io: I, seen: F) -> Self {
        Watched {
            io,
            seen: Some(seen),
            frame: Vec::new(),
        }
    }

    /// Takes in bytes the backend sent, until the first frame is whole.
    fn take_in(&mut self, bytes: &[u8]) {
        if self.seen.is_none() {
            return;
        }
        self.frame.extend_from_slice(bytes);
        let Some(header) = self.frame.get(..9) else {
            return;
        };
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        if header[3] != SETTINGS || length > MAX_PREFACE {
            return self.report(Preface::Unusable);
        }
        let Some(payload) = self.frame.get(9..9 + length) else {
            return;
        };
        let limit = payload
            .chunks_exact(6)
            .filter(|s| u16::from_be_bytes([s[0], s[1]]) == MAX_CONCURRENT_STREAMS)
            .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
            .next_back()
            .map_or(usize::MAX, |v| usize::try_from(v).unwrap_or(usize::MAX));
        self.report(Preface::Limit(limit));
    }

    fn report(&mut self, preface: Preface) {
        self.frame = Vec::new();
        if let Some(seen) = self.seen.take() {
            seen(preface);
        }
    }
}

impl<I: AsyncRead + Unpin, F: FnOnce(Preface) + Unpin> AsyncRead for Watched<I, F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.seen.is_some() {
            match &polled {
                Poll::Ready(Ok(())) if buf.filled().len() > before => {
                    this.take_in(&buf.filled()[before..]);
                }
                Poll::Ready(_) => this.report(Preface::Unusable),
                Poll::Pending => {}
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin, F: Unpin> AsyncWrite for Watched<I, F> {
    crate::base::io::forward_write!(io);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let length = entries.len() * 6;
        let mut frame = vec![0, 0, length as u8, SETTINGS, 0, 0, 0, 0, 0];
        for (id, value) in entries {
            frame.extend_from_slice(&id.to_be_bytes());
            frame.extend_from_slice(&value.to_be_bytes());
        }
        frame
    }

    fn read_in_pieces(bytes: &[u8], piece: usize) -> Option<Preface> {
        let seen = std::rc::Rc::new(std::cell::Cell::new(None));
        let out = seen.clone();
        let mut watched = Watched::new((), move |p| out.set(Some(p)));
        for chunk in bytes.chunks(piece) {
            watched.take_in(chunk);
        }
        seen.get()
    }

    #[test]
    fn the_limit_is_read_from_the_first_settings_frame_however_it_is_split() {
        let frame = settings(&[(0x4, 65_535), (MAX_CONCURRENT_STREAMS, 10), (0x5, 16_384)]);
        for piece in [1, 5, 9, 100] {
            assert_eq!(read_in_pieces(&frame, piece), Some(Preface::Limit(10)));
        }
        assert_eq!(
            read_in_pieces(&settings(&[(0x4, 65_535)]), 7),
            Some(Preface::Limit(usize::MAX)),
            "no limit announced"
        );
        // A PING first is no valid preface.
        assert_eq!(
            read_in_pieces(&[0, 0, 8, 6, 0, 0, 0, 0, 0], 9),
            Some(Preface::Unusable)
        );
        assert_eq!(read_in_pieces(&frame[..12], 4), None, "not whole yet");
    }
}
