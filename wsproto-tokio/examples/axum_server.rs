//! An axum server with two WebSocket endpoints: `/echo` sends every
//! message back, `/chat` relays each text message to every member.
//!
//! ```text
//! cargo run -p wsproto-tokio --example axum_server --features axum [ADDR]
//! ```
//!
//! ADDR defaults to 127.0.0.1:3000.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use tokio::sync::broadcast;
use wsproto_tokio::axum::{WebSocket, WebSocketUpgrade};
use wsproto_tokio::{CloseCode, Message};

/// What the chat's members share: one broadcast channel, so a message is
/// relayed by each member's own task, and a slow member lags (and misses
/// messages) without slowing the others.
struct Chat {
    relay: broadcast::Sender<String>,
    next_member: AtomicU64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    // 64 messages of slack per member before it starts to lag.
    let chat = Arc::new(Chat {
        relay: broadcast::channel(64).0,
        next_member: AtomicU64::new(1),
    });
    let app = Router::new()
        .route("/echo", get(echo))
        .route("/chat", get(chat_upgrade))
        .with_state(chat);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ws://{0}/echo and ws://{0}/chat", listener.local_addr()?);
    axum::serve(listener, app).await
}

/// Extraction has already refused what is not a valid upgrade (400, 426),
/// so the handler only decides how to run the connection.
async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut ws| async move {
        // Pings are answered and the close echoed by `recv` itself.
        while let Some(Ok(message)) = ws.recv().await {
            if message.is_data() && ws.send(message).await.is_err() {
                break;
            }
        }
    })
}

async fn chat_upgrade(ws: WebSocketUpgrade, State(chat): State<Arc<Chat>>) -> Response {
    ws.on_upgrade(move |ws| member(ws, chat))
}

/// One member: what it says goes to the channel, what the channel carries
/// goes to it. Two directions that wait independently, hence the split:
/// the read half keeps answering pings while the write half waits on the
/// channel.
async fn member(ws: WebSocket, chat: Arc<Chat>) {
    let id = chat.next_member.fetch_add(1, Ordering::Relaxed);
    // Subscribe before announcing, so the member sees its own arrival.
    let mut inbox = chat.relay.subscribe();
    let _ = chat.relay.send(format!("member {id} joined"));
    let (mut reader, mut writer) = ws.split();

    let forward = tokio::spawn(async move {
        loop {
            let text = match inbox.recv().await {
                Ok(text) => text,
                // Too slow: skip what was missed rather than stall the chat.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    format!("({missed} messages missed)")
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if writer.send(Message::text(text)).await.is_err() {
                break; // the connection is gone
            }
        }
    });

    while let Some(Ok(message)) = reader.recv().await {
        match message {
            Message::Text(text) => {
                // No member at all is not an error worth reporting.
                let _ = chat.relay.send(format!("{id}: {text}"));
            }
            Message::Binary(_) => {
                // A chat of text: refuse binary, as the protocol allows.
                let _ = reader.close(CloseCode::UNSUPPORTED_DATA, "text only").await;
                break;
            }
            _ => {}
        }
    }
    // The reader ended (close, error, or refusal above): stop relaying to
    // a connection that is gone.
    forward.abort();
    let _ = chat.relay.send(format!("member {id} left"));
}
