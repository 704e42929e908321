//! [`compat_reader`]: a tokio `AsyncRead` seen as a `futures-io` one, for the generic
//! streaming helpers (`Session::send_reader`). IO plumbing only.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// A tokio reader usable where a `futures-io` reader is expected.
#[derive(Debug)]
pub struct CompatReader<R>(R);

/// Wraps a tokio reader (a file, a socket) for `Session::send_reader`.
pub fn compat_reader<R: AsyncRead + Unpin>(reader: R) -> CompatReader<R> {
    CompatReader(reader)
}

impl<R: AsyncRead + Unpin> futures_io::AsyncRead for CompatReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut self.get_mut().0).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
