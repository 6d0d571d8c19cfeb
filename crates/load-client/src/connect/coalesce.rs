//! The TCP socket under TLS, which sends the handshake's last flight
//! together with the first request.
//!
//! When a client's handshake ends with a flight of its own (the
//! `Finished` of TLS 1.3, and of a resumed TLS 1.2 session), tokio-rustls
//! writes that flight in a `write` of its own as the handshake future
//! completes, and the request follows in a second `write`: two system
//! calls, two segments over the network, and a server that may wake up
//! twice. [`Coalesce`] holds every write made during the handshake; held
//! bytes leave
//! - before the next read (the client waits for the server's answer to
//!   them: the `ClientHello`, a full TLS 1.2 handshake's key exchange), so
//!   holding never stalls a handshake, and
//! - after [`Coalesce::release`] (the handshake is over), in one vectored
//!   write with the first bytes written after it (the request), or before
//!   the first read, flush or shutdown if that comes first.
//!
//! After release, with nothing held, every call goes straight to the socket.
//! The one liberty taken with `AsyncWrite` is that a flush during the
//! handshake does not send held bytes; the handshake reads after every
//! flight it waits on, and the read sends them.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that holds the handshake's writes; see the module doc.
#[derive(Debug)]
pub struct Coalesce {
    tcp: TcpStream,
    /// Bytes written but not sent yet.
    held: Vec<u8>,
    /// The handshake runs: writes are held.
    holding: bool,
}

impl Coalesce {
    /// A socket whose writes are held until [`Coalesce::release`] or a read.
    pub fn new(tcp: TcpStream) -> Coalesce {
        Coalesce {
            tcp,
            held: Vec::new(),
            holding: true,
        }
    }

    /// The handshake is over: held bytes leave with the next write (or
    /// before the next read, flush or shutdown), and nothing is held again.
    pub fn release(&mut self) {
        self.holding = false;
    }

    /// Bytes written and not sent yet.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Sends what is held, without waiting: for a handshake that failed
    /// (its last write is the alert telling the server why).
    pub fn send_held_now(&mut self) {
        if !self.held.is_empty() {
            let _ = self.tcp.try_write(&self.held);
            self.held = Vec::new();
        }
    }

    /// Sends what is held.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.held.is_empty() {
            return Poll::Ready(Ok(()));
        }
        while !self.held.is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.held))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.held.drain(..n);
        }
        // A connection holds bytes once: give the buffer back.
        self.held = Vec::new();
        Poll::Ready(Ok(()))
    }

    /// Writes what is held and then `bufs` in one vectored write; returns
    /// how much of `bufs` was written.
    fn poll_write_after_held(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.held.is_empty() {
                return Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
            }
            let mut slices = Vec::with_capacity(bufs.len() + 1);
            slices.push(IoSlice::new(&self.held));
            slices.extend(bufs.iter().map(|b| IoSlice::new(b)));
            let n = ready!(Pin::new(&mut self.tcp).poll_write_vectored(cx, &slices))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if n < self.held.len() {
                self.held.drain(..n);
                continue;
            }
            let past = n - self.held.len();
            self.held = Vec::new();
            if past > 0 {
                return Poll::Ready(Ok(past));
            }
        }
    }
}

impl AsyncRead for Coalesce {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Coalesce {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.holding {
            let mut n = 0;
            for b in bufs {
                this.held.extend_from_slice(b);
                n += b.len();
            }
            return Poll::Ready(Ok(n));
        }
        if this.held.is_empty() {
            return Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        }
        this.poll_write_after_held(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.holding {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.holding = false;
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A peer that reports each read it makes (its size) on a channel, and
    /// answers `pong` to a read that ends in `ping`.
    async fn peer() -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                let got = buf[..n].to_vec();
                let ping = got.ends_with(b"ping");
                let _ = tx.send(got);
                if ping {
                    let _ = socket.write_all(b"pong").await;
                }
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn held_bytes_leave_before_a_read_and_with_the_first_write_after_release() {
        let (addr, mut seen) = peer().await;
        let mut io = Coalesce::new(TcpStream::connect(addr).await.unwrap());
        // A flight the client then waits on: held, flushed "for nothing",
        // sent by the read that waits for the answer.
        io.write_all(b"hello ").await.unwrap();
        io.write_all(b"ping").await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(io.held(), 10);
        let mut answer = [0u8; 4];
        io.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"pong");
        assert_eq!(seen.recv().await.unwrap(), b"hello ping");
        // The last flight: held until the first write after release, then
        // both leave in one write (the peer's one read sees both).
        io.write_all(b"finished;").await.unwrap();
        io.release();
        assert_eq!(io.held(), 9);
        io.write_all(b"request ping").await.unwrap();
        assert_eq!(io.held(), 0);
        io.read_exact(&mut answer).await.unwrap();
        assert_eq!(seen.recv().await.unwrap(), b"finished;request ping");
        // Released and empty: writes go straight out.
        io.write_all(b"again ping").await.unwrap();
        assert_eq!(io.held(), 0);
        io.read_exact(&mut answer).await.unwrap();
        assert_eq!(seen.recv().await.unwrap(), b"again ping");
    }

    #[tokio::test]
    async fn a_flush_or_shutdown_after_release_sends_what_is_held() {
        let (addr, mut seen) = peer().await;
        let mut io = Coalesce::new(TcpStream::connect(addr).await.unwrap());
        io.write_all(b"finished").await.unwrap();
        io.release();
        io.flush().await.unwrap();
        assert_eq!(io.held(), 0);
        assert_eq!(seen.recv().await.unwrap(), b"finished");
        let mut io = {
            let (addr, rx) = peer().await;
            seen = rx;
            Coalesce::new(TcpStream::connect(addr).await.unwrap())
        };
        io.write_all(b"alert").await.unwrap();
        io.shutdown().await.unwrap();
        assert_eq!(seen.recv().await.unwrap(), b"alert");
    }
}
