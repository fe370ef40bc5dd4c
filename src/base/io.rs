//! Stream wrappers that watch one direction and pass the other through untouched.
//!
//! The shims under hyper and awc (the gRPC client's preface watcher, the HTTP client's
//! framing shim, the gRPC front's frame meter) each read or rewrite what they watch and hand
//! the rest of `AsyncWrite` straight to the stream they wrap. These macros write that
//! hand-over once: they expand to plain method items inside the wrapper's own
//! `impl AsyncWrite`, so every call is the same direct, inlinable call it was before.

/// `poll_flush` and `poll_shutdown` handed to the field `$io`.
macro_rules! forward_flush_shutdown {
    ($io:ident) => {
        fn poll_flush(
            self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
        ) -> ::std::task::Poll<::std::io::Result<()>> {
            ::std::pin::Pin::new(&mut self.get_mut().$io).poll_flush(cx)
        }

        fn poll_shutdown(
            self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
        ) -> ::std::task::Poll<::std::io::Result<()>> {
            ::std::pin::Pin::new(&mut self.get_mut().$io).poll_shutdown(cx)
        }
    };
}

/// All of `AsyncWrite` handed to the field `$io`: writes (plain and vectored), whether the
/// stream writes vectored, flush and shutdown.
macro_rules! forward_write {
    ($io:ident) => {
        fn poll_write(
            self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
            buf: &[u8],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            ::std::pin::Pin::new(&mut self.get_mut().$io).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            self: ::std::pin::Pin<&mut Self>,
            cx: &mut ::std::task::Context<'_>,
            bufs: &[::std::io::IoSlice<'_>],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            ::std::pin::Pin::new(&mut self.get_mut().$io).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.$io.is_write_vectored()
        }

        $crate::base::io::forward_flush_shutdown!($io);
    };
}

pub(crate) use {forward_flush_shutdown, forward_write};
