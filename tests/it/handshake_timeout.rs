//! The opening handshake's timeout (`Config::handshake_timeout`), in both
//! roles, with simulated time only: a fixed `Instant` plus offsets, never a
//! sleep. The clock starts at the first `handle_timeout` call; a head still
//! incomplete at the deadline fails the handshake for good.

#![cfg(feature = "std")]

use std::time::{Duration, Instant};

use wsproto::handshake::{
    ClientHandshake, ClientRequest, RequestError, ResponseErrorKind, ServerHandshake,
};
use wsproto::{Config, EntropyError, EntropySource};

/// The sample key of RFC 6455 section 1.3, the nonce behind it and the
/// key's accept value.
const NONCE: &[u8; 16] = b"the sample nonce";
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const SECOND: Duration = Duration::from_secs(1);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A minimal valid upgrade request.
fn valid_request() -> Vec<u8> {
    format!(
        "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// A valid 101 for [`KEY`].
fn switching() -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
    )
    .into_bytes()
}

/// A config with `timeout` as its handshake timeout.
fn config_with(timeout: Option<Duration>) -> Config {
    let mut config = Config::default();
    config.handshake_timeout = timeout;
    config
}

/// The start of simulated time.
fn start() -> Instant {
    Instant::now()
}

/// The exact 408 a timed-out server writes before closing.
fn expected_408() -> Vec<u8> {
    let body = "the request head did not arrive in time";
    format!(
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Always gives [`NONCE`] first, then zeros: the client's key is [`KEY`].
struct FixedEntropy(usize);

impl EntropySource for FixedEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            *byte = NONCE.get(self.0).copied().unwrap_or(0);
            self.0 += 1;
        }
        Ok(())
    }
}

/// A client handshake whose key is [`KEY`], with `config`.
fn client(config: Config) -> ClientHandshake {
    let request = ClientRequest::new("ws://example.com/chat").expect("a valid URL");
    ClientHandshake::with_entropy(&request, config, Box::new(FixedEntropy(0)))
        .expect("a valid request")
}

// ----- server -----

#[test]
fn server_times_out_with_the_exact_408() {
    let mut handshake = ServerHandshake::new(&Config::default());
    let t0 = start();
    assert_eq!(handshake.handle_timeout(t0), Ok(Some(t0 + DEFAULT_TIMEOUT)));
    assert_eq!(handshake.poll_timeout(), Some(t0 + DEFAULT_TIMEOUT));
    // Just before the deadline: still waiting, same deadline.
    let just_before = t0 + DEFAULT_TIMEOUT - Duration::from_nanos(1);
    assert_eq!(
        handshake.handle_timeout(just_before),
        Ok(Some(t0 + DEFAULT_TIMEOUT))
    );
    // At the deadline exactly: failed.
    let error = handshake
        .handle_timeout(t0 + DEFAULT_TIMEOUT)
        .expect_err("the deadline has come");
    assert_eq!(error, RequestError::Timeout);
    assert_eq!(error.status(), 408);
    assert_eq!(error.to_string(), "the request head did not arrive in time");
    assert_eq!(error.response().to_bytes(), expected_408());
    assert_eq!(handshake.poll_timeout(), None);
}

#[test]
fn a_server_timeout_is_sticky() {
    let mut handshake = ServerHandshake::new(&Config::default());
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    assert_eq!(
        handshake.handle_timeout(t0 + 11 * SECOND),
        Err(RequestError::Timeout)
    );
    // A whole valid request afterwards is still refused.
    assert_eq!(handshake.recv(&valid_request()), Err(RequestError::Timeout));
    assert_eq!(handshake.recv(b""), Err(RequestError::Timeout));
    // So are later clock ticks, even ones that look earlier.
    assert_eq!(
        handshake.handle_timeout(t0 + 12 * SECOND),
        Err(RequestError::Timeout)
    );
    assert_eq!(handshake.handle_timeout(t0), Err(RequestError::Timeout));
    assert_eq!(handshake.poll_timeout(), None);
}

#[test]
fn a_partial_head_then_the_deadline_times_out() {
    let mut handshake = ServerHandshake::new(&Config::default());
    let request = valid_request();
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    // A slow client trickles in most of the head, one piece per second.
    let (first, rest) = request.split_at(request.len() - 2);
    for (i, piece) in first.chunks(first.len().div_ceil(5)).enumerate() {
        assert_eq!(handshake.recv(piece), Ok(None));
        let now = t0 + SECOND * (i as u32 + 1);
        assert_eq!(
            handshake.handle_timeout(now),
            Ok(Some(t0 + DEFAULT_TIMEOUT)),
            "bytes do not move the deadline"
        );
    }
    assert_eq!(
        handshake.handle_timeout(t0 + DEFAULT_TIMEOUT),
        Err(RequestError::Timeout)
    );
    // The last two bytes come too late.
    assert_eq!(handshake.recv(rest), Err(RequestError::Timeout));
}

#[test]
fn a_request_completed_before_the_deadline_is_not_failed_later() {
    let mut handshake = ServerHandshake::new(&Config::default());
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    let request = handshake
        .recv(&valid_request())
        .expect("a valid request")
        .expect("a complete head");
    assert_eq!(request.path(), "/chat");
    // Past the deadline: the handshake is over, nothing fails.
    assert_eq!(handshake.poll_timeout(), None);
    assert_eq!(handshake.handle_timeout(t0 + 11 * SECOND), Ok(None));
    assert_eq!(handshake.handle_timeout(t0 + 3600 * SECOND), Ok(None));
    // Completion stays what it was: more input is a driver bug, not a timeout.
    assert_eq!(handshake.recv(b"x"), Err(RequestError::AlreadyComplete));
}

#[test]
fn a_request_completed_before_the_first_call_never_arms() {
    let mut handshake = ServerHandshake::new(&Config::default());
    handshake
        .recv(&valid_request())
        .expect("a valid request")
        .expect("a complete head");
    let t0 = start();
    assert_eq!(handshake.handle_timeout(t0), Ok(None));
    assert_eq!(handshake.poll_timeout(), None);
}

#[test]
fn an_earlier_failure_is_returned_by_handle_timeout() {
    let mut handshake = ServerHandshake::new(&Config::default());
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    assert_eq!(
        handshake.recv(b"POST /chat HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err(RequestError::WrongMethod)
    );
    assert_eq!(handshake.poll_timeout(), None);
    assert_eq!(
        handshake.handle_timeout(t0 + SECOND),
        Err(RequestError::WrongMethod)
    );
    assert_eq!(
        handshake.handle_timeout(t0 + 11 * SECOND),
        Err(RequestError::WrongMethod),
        "the first error stays, not a timeout"
    );
}

#[test]
fn no_server_timeout_never_arms() {
    let mut handshake = ServerHandshake::new(&config_with(None));
    let request = valid_request();
    let (first, rest) = request.split_at(20);
    let t0 = start();
    assert_eq!(handshake.poll_timeout(), None);
    assert_eq!(handshake.handle_timeout(t0), Ok(None));
    assert_eq!(handshake.poll_timeout(), None);
    assert_eq!(handshake.recv(first), Ok(None));
    let far = t0 + Duration::from_secs(10 * 365 * 24 * 3600);
    assert_eq!(handshake.handle_timeout(far), Ok(None));
    assert_eq!(handshake.poll_timeout(), None);
    // Still reading: the rest of the head, ten years on, completes it.
    let request = handshake
        .recv(rest)
        .expect("a valid request")
        .expect("a complete head");
    assert_eq!(request.path(), "/chat");
}

#[test]
fn the_deadline_counts_from_the_first_call() {
    let timeout = Duration::from_secs(10);
    let mut handshake = ServerHandshake::new(&config_with(Some(timeout)));
    let t0 = start();
    assert_eq!(
        handshake.poll_timeout(),
        None,
        "not armed before the first call"
    );
    assert_eq!(handshake.handle_timeout(t0), Ok(Some(t0 + timeout)));
    // A later call neither restarts nor extends the clock.
    assert_eq!(
        handshake.handle_timeout(t0 + 5 * SECOND),
        Ok(Some(t0 + timeout))
    );
    assert_eq!(handshake.poll_timeout(), Some(t0 + timeout));
    assert_eq!(
        handshake.handle_timeout(t0 + 10 * SECOND),
        Err(RequestError::Timeout)
    );
}

#[test]
fn the_first_call_may_come_late_and_still_starts_the_clock_then() {
    let mut handshake = ServerHandshake::new(&config_with(Some(2 * SECOND)));
    let t0 = start();
    let late = t0 + 100 * SECOND;
    assert_eq!(handshake.handle_timeout(late), Ok(Some(late + 2 * SECOND)));
    assert_eq!(
        handshake.handle_timeout(late + SECOND),
        Ok(Some(late + 2 * SECOND))
    );
}

#[test]
fn a_zero_timeout_fails_at_the_first_call() {
    let mut handshake = ServerHandshake::new(&config_with(Some(Duration::ZERO)));
    assert_eq!(
        handshake.handle_timeout(start()),
        Err(RequestError::Timeout)
    );
}

#[test]
fn a_timeout_too_large_for_an_instant_waits_for_ever() {
    let mut handshake = ServerHandshake::new(&config_with(Some(Duration::MAX)));
    let t0 = start();
    assert_eq!(handshake.handle_timeout(t0), Ok(None));
    assert_eq!(handshake.poll_timeout(), None);
    assert_eq!(handshake.handle_timeout(t0 + 3600 * SECOND), Ok(None));
}

// ----- client -----

#[test]
fn client_times_out_without_a_status() {
    let mut handshake = client(Config::default());
    let t0 = start();
    assert_eq!(
        handshake.handle_timeout(t0).expect("armed"),
        Some(t0 + DEFAULT_TIMEOUT)
    );
    assert_eq!(handshake.poll_timeout(), Some(t0 + DEFAULT_TIMEOUT));
    let response = switching();
    // Part of the head arrives, the rest never does.
    assert!(handshake.recv(&response[..20]).expect("partial").is_none());
    assert_eq!(
        handshake.handle_timeout(t0 + 9 * SECOND).expect("not yet"),
        Some(t0 + DEFAULT_TIMEOUT)
    );
    let error = handshake
        .handle_timeout(t0 + 11 * SECOND)
        .expect_err("the deadline has passed");
    assert_eq!(error.kind(), ResponseErrorKind::Timeout);
    assert_eq!(error.status(), None);
    assert!(error.response().is_none());
    assert_eq!(
        error.to_string(),
        "the response head did not arrive in time"
    );
    assert_eq!(handshake.poll_timeout(), None);
}

#[test]
fn a_client_timeout_is_sticky() {
    let mut handshake = client(Config::default());
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    let error = handshake
        .handle_timeout(t0 + 11 * SECOND)
        .expect_err("timed out");
    // The whole valid response afterwards is still refused, the same way.
    let again = handshake.recv(&switching()).expect_err("sticky");
    assert_eq!(again, error);
    assert_eq!(again.kind(), ResponseErrorKind::Timeout);
    assert_eq!(
        handshake
            .handle_timeout(t0 + 12 * SECOND)
            .expect_err("sticky"),
        error
    );
    assert_eq!(handshake.poll_timeout(), None);
}

#[test]
fn a_client_completed_before_the_deadline_is_not_failed_later() {
    let mut handshake = client(Config::default());
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    assert_eq!(
        handshake.handle_timeout(t0 + 5 * SECOND).expect("not yet"),
        Some(t0 + DEFAULT_TIMEOUT),
        "the deadline counts from the first call"
    );
    let upgraded = handshake
        .recv(&switching())
        .expect("a valid 101")
        .expect("a complete head");
    assert_eq!(upgraded.response().status(), 101);
    assert_eq!(handshake.poll_timeout(), None);
    assert_eq!(
        handshake
            .handle_timeout(t0 + 11 * SECOND)
            .expect("complete"),
        None
    );
    assert_eq!(
        handshake.recv(b"x").expect_err("complete").kind(),
        ResponseErrorKind::AlreadyComplete
    );
}

#[test]
fn an_earlier_client_failure_is_returned_by_handle_timeout() {
    let mut handshake = client(Config::default());
    let t0 = start();
    handshake.handle_timeout(t0).expect("armed");
    let refused = handshake
        .recv(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        .expect_err("refused");
    assert_eq!(refused.kind(), ResponseErrorKind::NotSwitching);
    assert_eq!(
        handshake
            .handle_timeout(t0 + 11 * SECOND)
            .expect_err("sticky"),
        refused
    );
}

#[test]
fn no_client_timeout_never_arms() {
    let mut handshake = client(config_with(None));
    let t0 = start();
    assert_eq!(handshake.handle_timeout(t0).expect("no timeout"), None);
    assert_eq!(handshake.poll_timeout(), None);
    let far = t0 + Duration::from_secs(10 * 365 * 24 * 3600);
    assert_eq!(handshake.handle_timeout(far).expect("no timeout"), None);
    assert!(handshake.recv(&switching()).expect("a valid 101").is_some());
}

#[test]
fn the_configured_client_timeout_is_used() {
    let mut handshake = client(config_with(Some(3 * SECOND)));
    let t0 = start();
    assert_eq!(
        handshake.handle_timeout(t0).expect("armed"),
        Some(t0 + 3 * SECOND)
    );
    assert_eq!(
        handshake
            .handle_timeout(t0 + 3 * SECOND)
            .expect_err("timed out")
            .kind(),
        ResponseErrorKind::Timeout
    );
}
