//! The stream halves with tokio's IO traits: thin wrappers over `stt_adapter`'s, whose
//! methods (`id`, `finished`, `reset`, `read_chunk`, `stop`…) they expose by deref.

use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use stt_adapter::StreamIoError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The sending half of a stream. Implements [`AsyncWrite`]; `shutdown` finishes the
/// stream and completes once the peer acknowledged every byte. Dropping it without
/// finishing finishes it implicitly. The other methods are `stt_adapter::SendStream`'s.
#[derive(Debug)]
pub struct SendStream(stt_adapter::SendStream);

impl SendStream {
    /// Writes all of `data` (the typed-error twin of `AsyncWriteExt::write_all`).
    pub async fn write_all(&mut self, data: &[u8]) -> Result<(), StreamIoError> {
        self.0.write_all(data).await
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .0
            .poll_write_some(cx, buf)
            .map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.poll_finish(cx).map_err(Into::into)
    }
}

/// The receiving half of a stream. Implements [`AsyncRead`]; end of stream is the
/// peer's finish. Dropping it before the end asks the peer to stop sending. The other
/// methods are `stt_adapter::RecvStream`'s.
#[derive(Debug)]
pub struct RecvStream(stt_adapter::RecvStream);

impl AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        if max == 0 {
            return Poll::Ready(Ok(()));
        }
        self.get_mut()
            .0
            .poll_read_chunk(cx, max)
            .map_ok(|chunk| buf.put_slice(&chunk.unwrap_or_default()))
            .map_err(Into::into)
    }
}

macro_rules! wrapper {
    ($outer:ident, $inner:ty) => {
        impl From<$inner> for $outer {
            fn from(inner: $inner) -> Self {
                Self(inner)
            }
        }

        impl Deref for $outer {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl DerefMut for $outer {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }
    };
}

wrapper!(SendStream, stt_adapter::SendStream);
wrapper!(RecvStream, stt_adapter::RecvStream);
