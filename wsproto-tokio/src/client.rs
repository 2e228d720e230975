//! The client: connect to a `ws://` (or, with the `rustls` feature,
//! `wss://`) URL, or run the opening handshake over a stream the
//! application opened itself (through a proxy, say).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wsproto::Config;
use wsproto::handshake::{BuildError, ClientHandshake, ClientRequest, Extension, Response};

use crate::{Error, WebSocket};

/// Bytes read at a time while the response head arrives.
const HEAD_CHUNK: usize = 4 << 10;

/// Connects to `url` (`ws://host[:port]/path`) with the default [`Config`]
/// and runs the opening handshake. See [`ClientBuilder`] for subprotocols,
/// headers, permessage-deflate and TLS.
///
/// ```no_run
/// use wsproto_tokio::Message;
///
/// # async fn run() -> Result<(), wsproto_tokio::Error> {
/// let mut ws = wsproto_tokio::connect("ws://127.0.0.1:9001/").await?;
/// ws.send(Message::text("hello")).await?;
/// if let Some(reply) = ws.recv().await {
///     println!("{:?}", reply?);
/// }
/// ws.close(wsproto::CloseCode::NORMAL, "").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket<ClientStream>, Error> {
    let (ws, _accepted) = ClientBuilder::new(url).connect().await?;
    Ok(ws)
}

/// A client's request and configuration.
///
/// ```no_run
/// use wsproto_tokio::ClientBuilder;
///
/// # async fn run() -> Result<(), wsproto_tokio::Error> {
/// let mut config = wsproto::Config::default();
/// config.deflate.enabled = true;
/// let (ws, accepted) = ClientBuilder::new("ws://127.0.0.1:8080/ws")
///     .protocol("chat.v1")
///     .header("Authorization", "Bearer 7d2c")
///     .config(config)
///     .connect()
///     .await?;
/// assert_eq!(accepted.protocol(), Some("chat.v1"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    request: Result<ClientRequest, BuildError>,
    config: Config,
    #[cfg(feature = "rustls")]
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl ClientBuilder {
    /// A request for `url` (checked when connecting).
    pub fn new(url: &str) -> Self {
        ClientBuilder {
            request: ClientRequest::new(url),
            config: Config::default(),
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }

    /// Offers a subprotocol; call again for more, most preferred first.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.request = self.request.map(|r| r.protocol(protocol));
        self
    }

    /// Adds a header field to the request (cookies, authorization).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.request = self.request.map(|r| r.header(name, value));
        self
    }

    /// Sets `Origin`, as a browser would.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.request = self.request.map(|r| r.origin(origin));
        self
    }

    /// The configuration of the handshake (its limits and timeout) and of
    /// the connection (limits, timeouts, keepalive, permessage-deflate,
    /// which it offers when `config.deflate.enabled`).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The TLS configuration for `wss://` (its roots, client certificate,
    /// ALPN). Without it, the operating system's roots are used.
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Connects over TCP (and TLS for `wss://`) and runs the handshake.
    /// The handshake timeout counts from the start of the connection.
    pub async fn connect(self) -> Result<(WebSocket<ClientStream>, Accepted), Error> {
        let request = self.request.clone()?;
        let tcp = TcpStream::connect((request.host(), request.port())).await?;
        // Messages go out when sent, not batched by Nagle's algorithm.
        tcp.set_nodelay(true)?;
        let stream = if request.is_tls() {
            self.tls_connect(&request, tcp).await?
        } else {
            ClientStream::Plain(tcp)
        };
        self.connect_on(stream).await
    }

    /// Runs the handshake over `io`, a stream the application opened
    /// (already through TLS for a `wss://` URL, or a tunnel through an
    /// HTTP `CONNECT` proxy); the URL gives the `Host` and the path.
    pub async fn connect_on<IO>(self, mut io: IO) -> Result<(WebSocket<IO>, Accepted), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let request = self.request?;
        let mut handshake = ClientHandshake::new(&request, self.config)?;
        let start = Instant::now();
        let deadline = handshake.handle_timeout(start.into_std())?;
        let exchange = async {
            io.write_all(handshake.request_bytes()).await?;
            io.flush().await?;
            let mut buf = vec![0; HEAD_CHUNK];
            loop {
                let read = io.read(&mut buf).await?;
                if read == 0 {
                    return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                if let Some(upgraded) = handshake.recv(&buf[..read])? {
                    return Ok(upgraded);
                }
            }
        };
        let upgraded = match deadline {
            None => exchange.await?,
            Some(deadline) => {
                match tokio::time::timeout_at(Instant::from_std(deadline), exchange).await {
                    Ok(upgraded) => upgraded?,
                    Err(_elapsed) => {
                        // Fails the handshake with its timeout error.
                        handshake.handle_timeout(Instant::now().into_std())?;
                        return Err(Error::Io(io::ErrorKind::TimedOut.into()));
                    }
                }
            }
        };
        let accepted = Accepted {
            response: upgraded.response().clone(),
            protocol: upgraded.protocol().map(str::to_owned),
            extensions: upgraded.extensions().to_vec(),
        };
        let ws = WebSocket::from_connection(io, upgraded.into_connection());
        Ok((ws, accepted))
    }

    #[cfg(feature = "rustls")]
    async fn tls_connect(
        &self,
        request: &ClientRequest,
        tcp: TcpStream,
    ) -> Result<ClientStream, Error> {
        let config = match &self.tls {
            Some(config) => config.clone(),
            None => crate::tls::system_roots_config()?,
        };
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(request.host().to_owned())
            .map_err(|error| Error::Io(io::Error::new(io::ErrorKind::InvalidInput, error)))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        Ok(ClientStream::Rustls(Box::new(stream)))
    }

    #[cfg(not(feature = "rustls"))]
    async fn tls_connect(&self, _: &ClientRequest, _: TcpStream) -> Result<ClientStream, Error> {
        Err(Error::UnsupportedTls)
    }
}

/// What the server answered to an accepted upgrade.
#[derive(Clone, Debug)]
pub struct Accepted {
    response: Response,
    protocol: Option<String>,
    extensions: Vec<Extension>,
}

impl Accepted {
    /// The server's 101 response (its headers, such as `Set-Cookie`).
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The subprotocol the server chose, one of those offered.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted (permessage-deflate among them
    /// when it was negotiated).
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
}

/// The transport [`connect`] opens: TCP, or TLS over TCP for `wss://`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`, with rustls.
    #[cfg(feature = "rustls")]
    Rustls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            ClientStream::Rustls(tls) => Pin::new(tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            ClientStream::Rustls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            #[cfg(feature = "rustls")]
            ClientStream::Rustls(tls) => Pin::new(tls).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "rustls")]
            ClientStream::Rustls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "rustls")]
            ClientStream::Rustls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            ClientStream::Rustls(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}
