//! [`Connection`]: one connection the driver asks its runtime to open
//! ([`crate::Runtime::open`]), and how an async runtime runs it: one task connects, then reads
//! and writes concurrently.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use futures::{SinkExt, Stream, StreamExt};
use rocketwire_core::{ConnId, Input, TlsError};

use crate::outgoing::Outgoing;
use crate::tls::{tls_io_error, Handshake, HandshakeStep, TlsConfig, TlsReader, TlsSession};
use crate::write_batch::WriteBatch;

/// Size of one socket read.
const READ_CHUNK: usize = 64 * 1024;

/// Never sent: a clone of the sender lives in each connection's [`Link`], so the receiver
/// ends when every connection has ended.
pub(crate) enum Never {}

/// A connection to open and run until it ends: connect to `addr` within `connect_timeout`
/// and report [`Input::Connected`] or [`Input::ConnectFailed`]; then write `frames` in order
/// and report what is read as [`Input::Received`], until the peer closes or an IO error
/// ([`Input::Closed`]), or until `closed` fires: the driver closed the connection, so it
/// stops at once and reports nothing. The driver learns that the connection's IO has ended
/// when its [`Link`] is dropped (it waits for that at shutdown).
#[derive(Debug)]
#[non_exhaustive]
pub struct Connection {
    /// `host:port`.
    pub addr: String,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// Frames to write, each head then body; the stream ends when the driver closes the
    /// connection.
    pub frames: Outgoing,
    /// Resolves (canceled) when the driver closes the connection.
    pub closed: oneshot::Receiver<()>,
    /// Reports to the driver.
    pub link: Link,
    /// Set when the client uses TLS: the connection runs a [`TlsSession`] over the socket.
    pub tls: Option<TlsConfig>,
}

/// A connection's way to report to the driver; dropping it tells the driver that the
/// connection's IO has ended.
pub struct Link {
    conn: ConnId,
    inputs: mpsc::Sender<Input>,
    _tracker: mpsc::Sender<Never>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link").field("conn", &self.conn).finish()
    }
}

impl Link {
    pub(crate) fn new(
        conn: ConnId,
        inputs: mpsc::Sender<Input>,
        tracker: mpsc::Sender<Never>,
    ) -> Self {
        Self {
            conn,
            inputs,
            _tracker: tracker,
        }
    }

    /// The connection's id, for the inputs it reports.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Hands `input` to the driver, waiting for room: `false` once the driver stopped.
    pub async fn report(&mut self, input: Input) -> bool {
        self.inputs.send(input).await.is_ok()
    }
}

/// The buffer a connection reads into: large reads, handed out as [`Bytes`] without copying.
#[derive(Debug)]
pub struct ReadBuffer(BytesMut);

impl Default for ReadBuffer {
    fn default() -> Self {
        Self(BytesMut::zeroed(READ_CHUNK))
    }
}

impl ReadBuffer {
    /// Where the next read goes.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The `n` bytes the last read put into [`ReadBuffer::space`].
    pub fn take(&mut self, n: usize) -> Bytes {
        let chunk = self.0.split_to(n).freeze();
        if self.0.len() < READ_CHUNK / 8 {
            self.0 = BytesMut::zeroed(READ_CHUNK);
        }
        chunk
    }
}

/// Why a connection could not be opened: the socket, or its TLS handshake.
#[derive(Debug)]
pub enum OpenError {
    /// Connecting (or the handshake's IO) failed.
    Io(io::Error),
    /// The TLS handshake failed.
    Tls(TlsError),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

impl OpenError {
    /// The input reporting this failure of `conn`.
    pub fn into_input(self, conn: ConnId) -> Input {
        match self {
            OpenError::Io(e) => Input::ConnectFailed(conn, e.to_string()),
            OpenError::Tls(e) => Input::TlsFailed(conn, e),
        }
    }
}

impl Connection {
    /// The TLS session for this connection, when the client uses TLS.
    pub fn tls_session(&self) -> Result<Option<TlsSession>, OpenError> {
        self.tls
            .as_ref()
            .map(|config| TlsSession::new(config, &self.addr))
            .transpose()
            .map_err(OpenError::Tls)
    }

    /// Runs the connection in the calling task: `connect` (and the TLS handshake), given up
    /// when `timeout` fires first, then reads and writes concurrently.
    pub(crate) async fn run<S>(
        self,
        connect: impl Future<Output = io::Result<(S, Option<SocketAddr>)>>,
        timeout: impl Future<Output = ()>,
    ) where
        S: AsyncRead + AsyncWrite + Send + Unpin,
    {
        let session = self.tls_session();
        let Connection {
            addr,
            connect_timeout,
            frames,
            mut closed,
            mut link,
            ..
        } = self;
        let conn = link.conn;
        let session = match session {
            Ok(session) => session,
            Err(e) => {
                link.report(e.into_input(conn)).await;
                return;
            }
        };
        let handshake_session = session.clone();
        let open = async move {
            let (mut stream, local) = connect.await?;
            let early = match &handshake_session {
                Some(session) => handshake(&mut stream, session).await?,
                None => Bytes::new(),
            };
            Ok::<_, OpenError>((stream, local, early))
        };
        let (open, timeout) = (pin!(open), pin!(timeout));
        let open = future::select(open, timeout);
        let (stream, local, early) = match future::select(open, &mut closed).await {
            Either::Left((Either::Left((Ok(opened), _)), _)) => opened,
            Either::Left((Either::Left((Err(e), _)), _)) => {
                link.report(e.into_input(conn)).await;
                return;
            }
            Either::Left((Either::Right(((), _)), _)) => {
                let reason = format!("connect timed out after {connect_timeout:?}");
                link.report(Input::ConnectFailed(conn, reason)).await;
                return;
            }
            Either::Right(_) => return,
        };
        if !link.report(Input::Connected(conn)).await {
            return;
        }
        if let Some(local) = local {
            if !link.report(Input::LocalAddr(conn, local.to_string())).await {
                return;
            }
        }
        if !early.is_empty() && !link.report(Input::Received(conn, early)).await {
            return;
        }
        let (wake_writer, writer_woken) = mpsc::unbounded();
        let (reader, writer) = stream.split();
        let read = pin!(read_loop(
            reader,
            conn,
            link.inputs.clone(),
            session.clone().map(|s| TlsReader::new(s, wake_writer))
        ));
        let write = pin!(write_loop(
            writer,
            frames,
            session.map(|s| (s, writer_woken))
        ));
        let io = future::select(read, write);
        // `closed` first: a connection the driver closed needs no report.
        if let Either::Right((finished, _)) = future::select(closed, io).await {
            if let Err(e) = finished.factor_first().0 {
                tracing::debug!(?conn, %addr, error = %e, "connection failed");
            }
            link.report(Input::Closed(conn)).await;
        }
    }
}

/// Runs the TLS handshake on a connected `stream`; returns any plaintext that came with
/// its last records.
async fn handshake<S>(stream: &mut S, session: &TlsSession) -> Result<Bytes, OpenError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = Handshake::new(session);
    let mut buf = ReadBuffer::default();
    loop {
        match handshake.step() {
            HandshakeStep::Write(bytes) => {
                stream.write_all(bytes).await?;
                stream.flush().await?;
                handshake.written();
            }
            HandshakeStep::Read => {
                let n = stream.read(buf.space()).await?;
                if let Err(e) = handshake.read(&buf.take(n)) {
                    let _ = stream.write_all(&handshake.alert()).await;
                    return Err(OpenError::Tls(e));
                }
            }
            HandshakeStep::Done(early) => return Ok(early),
        }
    }
}

/// Forwards received bytes (decrypted, with TLS) until EOF (`Ok`) or an error.
async fn read_loop<S: AsyncRead>(
    mut reader: ReadHalf<S>,
    conn: ConnId,
    mut inputs: mpsc::Sender<Input>,
    tls: Option<TlsReader>,
) -> io::Result<()> {
    let mut buf = ReadBuffer::default();
    loop {
        let n = reader.read(buf.space()).await?;
        if n == 0 {
            return Ok(());
        }
        let (bytes, peer_closed) = match &tls {
            Some(tls) => tls.open(&buf.take(n))?,
            None => (buf.take(n), false),
        };
        if !bytes.is_empty() && inputs.send(Input::Received(conn, bytes)).await.is_err() {
            return Ok(());
        }
        if peer_closed {
            return Ok(());
        }
    }
}

/// Writes frames (every frame queued at once in one batch of vectored writes; sealed into
/// records with TLS) until the driver drops the sender (`Ok`) or an error.
async fn write_loop<S: AsyncWrite>(
    mut writer: WriteHalf<S>,
    frames: Outgoing,
    tls: Option<(TlsSession, mpsc::UnboundedReceiver<()>)>,
) -> io::Result<()> {
    let Some((session, woken)) = tls else {
        let mut frames = frames;
        let mut batch = WriteBatch::new();
        let mut open = true;
        while open {
            let Some((head, body)) = frames.next().await else {
                break;
            };
            batch.push(head, body);
            open = frames.gather(&mut batch);
            while !batch.is_empty() {
                let n = writer.write_vectored(&batch.slices()).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                batch.advance(n);
            }
            writer.flush().await?;
        }
        return writer.close().await;
    };
    let mut records = Vec::new();
    let mut work = TlsWork::new(frames, woken);
    while let Some(frame) = work.next().await {
        session
            .records_for(frame, &mut records)
            .map_err(tls_io_error)?;
        writer.write_all(&records).await?;
        writer.flush().await?;
    }
    let _ = writer.write_all(&session.goodbye()).await;
    writer.close().await
}

/// What a TLS writer waits for: the next frame (`Some`), or a wake-up from the reader
/// (`None`) when the session has records of its own to send (a key update). Ends when the
/// frames end.
#[derive(Debug)]
pub struct TlsWork {
    frames: Outgoing,
    woken: Option<mpsc::UnboundedReceiver<()>>,
}

impl TlsWork {
    /// The work of a writer taking `frames` and woken through `woken`.
    pub fn new(frames: Outgoing, woken: mpsc::UnboundedReceiver<()>) -> Self {
        Self {
            frames,
            woken: Some(woken),
        }
    }
}

impl Stream for TlsWork {
    type Item = Option<(Bytes, Bytes)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.frames.poll_next_unpin(cx) {
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(Some(frame))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if let Some(woken) = &mut self.woken {
            match woken.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => return Poll::Ready(Some(None)),
                // The reader has ended; the frames decide when the writer does.
                Poll::Ready(None) => self.woken = None,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}
