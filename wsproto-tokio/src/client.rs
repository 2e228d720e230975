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
use wsproto::handshake::{
    BuildError, ClientHandshake, ClientRequest, Extension, Response, Upgraded,
};

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
        let upgraded = within_deadline(&mut handshake, async |handshake| {
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
        })
        .await?;
        let accepted = Accepted::of(&upgraded);
        let ws = WebSocket::from_connection(io, upgraded.into_connection());
        Ok((ws, accepted))
    }

    /// Opens the WebSocket as a new stream of an HTTP/2 connection
    /// (RFC 8441), with the same request and configuration as over
    /// HTTP/1.1: an extended `CONNECT` (`:protocol websocket`, the URL's
    /// scheme, authority and path) through hyper's `send`, a 2xx checked
    /// as a `101` would be (subprotocol, extensions, permessage-deflate),
    /// then the [`WebSocket`] over the stream. The handshake timeout counts
    /// from the call. Feature `h2`.
    ///
    /// The connection is yours: open it with
    /// `hyper::client::conn::http2::handshake` (over TLS with ALPN `h2`
    /// for `wss://`) and keep polling it in a task of its own; clone
    /// `send` to open more WebSockets on it, up to the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`. The server must have advertised
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (hyper does not check; a server
    /// without it resets the stream: [`Error::Io`]). The request body type
    /// `B` is the connection's; an empty `B::default()` is sent.
    ///
    /// ```no_run
    /// use http_body_util::Empty;
    /// use hyper::body::Bytes;
    /// use hyper_util::rt::{TokioExecutor, TokioIo};
    /// use wsproto_tokio::{ClientBuilder, Message};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
    /// let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
    ///     .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
    ///     .await?;
    /// tokio::spawn(connection);
    /// let mut config = wsproto::Config::default();
    /// config.deflate.enabled = true;
    /// // Two WebSockets on one HTTP/2 connection.
    /// let (mut chat, accepted) = ClientBuilder::new("ws://127.0.0.1:9001/chat")
    ///     .protocol("chat.v1")
    ///     .config(config)
    ///     .connect_h2(&mut send.clone())
    ///     .await?;
    /// let (mut feed, _) = ClientBuilder::new("ws://127.0.0.1:9001/feed")
    ///     .connect_h2(&mut send.clone())
    ///     .await?;
    /// chat.send(Message::text("hello")).await?;
    /// println!("{:?} {:?}", accepted.protocol(), feed.recv().await);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "h2")]
    pub async fn connect_h2<B>(
        self,
        send: &mut ::hyper::client::conn::http2::SendRequest<B>,
    ) -> Result<(WebSocket<crate::hyper::UpgradedIo>, Accepted), Error>
    where
        B: ::hyper::body::Body + Default + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request = self.request?;
        let mut handshake = ClientHandshake::new(&request, self.config)?;
        let hyper_error = |error: ::hyper::Error| Error::Io(io::Error::other(error));
        let (upgraded, mut response) = within_deadline(&mut handshake, async |handshake| {
            let (parts, ()) = handshake.to_http_extended_connect().into_parts();
            let mut connect = http::Request::from_parts(parts, B::default());
            connect
                .extensions_mut()
                .insert(::hyper::ext::Protocol::from_static("websocket"));
            send.ready().await.map_err(hyper_error)?;
            let response = send.send_request(connect).await.map_err(hyper_error)?;
            let upgraded = handshake.recv_http_extended_connect_response(&response)?;
            Ok((upgraded, response))
        })
        .await?;
        let stream = ::hyper::upgrade::on(&mut response)
            .await
            .map_err(hyper_error)?;
        let accepted = Accepted::of(&upgraded);
        let io = hyper_util::rt::TokioIo::new(stream);
        Ok((
            WebSocket::from_connection(io, upgraded.into_connection()),
            accepted,
        ))
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

/// Runs a client handshake's `exchange` under the handshake timeout of its
/// configuration, counted from now: past it, the handshake fails with its
/// timeout error and this returns [`Error::Io`] (`TimedOut`).
async fn within_deadline<T>(
    handshake: &mut ClientHandshake,
    exchange: impl AsyncFnOnce(&mut ClientHandshake) -> Result<T, Error>,
) -> Result<T, Error> {
    let Some(deadline) = handshake.handle_timeout(Instant::now().into_std())? else {
        return exchange(handshake).await;
    };
    match tokio::time::timeout_at(Instant::from_std(deadline), exchange(handshake)).await {
        Ok(result) => result,
        Err(_elapsed) => {
            // Fails the handshake with its timeout error.
            handshake.handle_timeout(Instant::now().into_std())?;
            Err(Error::Io(io::ErrorKind::TimedOut.into()))
        }
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
    fn of(upgraded: &Upgraded) -> Self {
        Accepted {
            response: upgraded.response().clone(),
            protocol: upgraded.protocol().map(str::to_owned),
            extensions: upgraded.extensions().to_vec(),
        }
    }

    /// The server's response: its 101, or over HTTP/2 its 2xx (for its
    /// headers, such as `Set-Cookie`).
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
