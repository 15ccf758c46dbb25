//! The connection front: peer addresses and WebSocket upgrades with Baoming's own settings.
//!
//! warp's `ws` filter builds every WebSocket with tungstenite's default 128 KiB read buffer,
//! which tungstenite zero-fills on the first read, so each idle device would cost the server
//! 128 KiB of resident memory before it says anything. The server therefore takes the upgrade
//! handle out of each request itself ([`prepare`], called by the accept loop in
//! the HTTP layer's `serve` module), and [`ws`] / [`WsUpgrade::on_upgrade`] finish the RFC 6455 handshake
//! with a small buffer that grows only for the frames that need it.

use baoming_core::api::error::ErrorCode;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use warp::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::error::ApiError;

/// A server-side WebSocket over an upgraded HTTP/1.1 connection.
pub type ServerSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The address of the peer that opened the connection (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The upgrade handle of a request, taken out by the accept loop so a filter can claim it.
#[derive(Clone, Default)]
pub struct UpgradeSlot(Arc<Mutex<Option<OnUpgrade>>>);

impl std::fmt::Debug for UpgradeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpgradeSlot")
    }
}

/// Records the peer address and, for upgrade requests, moves the upgrade handle where [`ws`]
/// finds it.
pub fn prepare<B>(req: &mut Request<B>, peer: SocketAddr) {
    req.extensions_mut().insert(PeerAddr(peer));
    if req.headers().contains_key(header::UPGRADE) {
        let on_upgrade = hyper::upgrade::on(&mut *req);
        req.extensions_mut().insert(UpgradeSlot(Arc::new(Mutex::new(Some(on_upgrade)))));
    }
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// A validated WebSocket upgrade request, not yet answered.
#[derive(Debug)]
pub struct WsUpgrade {
    key: HeaderValue,
    slot: Option<UpgradeSlot>,
}

/// Accepts a WebSocket upgrade request (RFC 6455 §4.2.1); anything else is refused with
/// `websocket_required`.
pub fn ws() -> impl Filter<Extract = (WsUpgrade,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and(warp::ext::optional::<UpgradeSlot>()).and_then(
        |headers: HeaderMap, slot: Option<UpgradeSlot>| async move {
            let upgrade = header_has_token(&headers, header::CONNECTION, "upgrade")
                && header_has_token(&headers, header::UPGRADE, "websocket");
            let version =
                headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) == Some(b"13");
            match headers.get(header::SEC_WEBSOCKET_KEY) {
                Some(key) if upgrade && version => Ok(WsUpgrade { key: key.clone(), slot }),
                _ => Err(warp::reject::custom(ApiError::from(crate::refusal::Refusal::invalid(
                    ErrorCode::WebsocketRequired,
                    "this endpoint speaks WebSocket (version 13) only",
                )))),
            }
        },
    )
}

impl WsUpgrade {
    /// Answers `101 Switching Protocols` and runs `serve` on the socket once the connection is
    /// upgraded. `config` sets the frame limits and buffers.
    pub fn on_upgrade<F, Fut>(self, config: WebSocketConfig, serve: F) -> Response
    where
        F: FnOnce(ServerSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.slot.and_then(|s| s.0.lock().unwrap_or_else(|p| p.into_inner()).take());
        let Some(on_upgrade) = on_upgrade else {
            // Only requests that came through the accept loop can be upgraded (not in-process
            // test requests, for instance).
            return super::error::error_response(&ApiError::Internal(
                "this connection cannot be upgraded".into(),
            ));
        };
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket =
                        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                            .await;
                    serve(socket).await;
                }
                Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
            }
        });
        let mut resp = Response::new(Default::default());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = resp.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(self.key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baoming_core::api::error::ErrorCode;

    fn upgrade_request() -> warp::test::RequestBuilder {
        warp::test::request()
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    }

    #[tokio::test]
    async fn a_proper_upgrade_request_is_accepted_and_answered_with_the_rfc_accept_key() {
        let ws = upgrade_request().filter(&ws()).await.expect("accepted");
        assert_eq!(ws.key.as_bytes(), b"dGhlIHNhbXBsZSBub25jZQ==");
        // RFC 6455 §1.3's worked example.
        assert_eq!(derive_accept_key(ws.key.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[tokio::test]
    async fn anything_else_is_refused_as_websocket_required() {
        for req in [
            warp::test::request(),
            upgrade_request().header("sec-websocket-version", "8"),
            upgrade_request().header("upgrade", "h2c"),
            upgrade_request().header("connection", "close"),
        ] {
            let rejection = req.filter(&ws()).await.expect_err("refused");
            let api = rejection.find::<ApiError>().expect("an API error");
            assert_eq!(api.problem().body.code, ErrorCode::WebsocketRequired);
        }
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_upgraded_gets_an_error_not_a_101() {
        let ws = upgrade_request().filter(&ws()).await.expect("accepted");
        let resp = ws.on_upgrade(WebSocketConfig::default(), |_socket| async {});
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
