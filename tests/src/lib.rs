//! Helpers shared by the workspace-level harnesses: start the real server binary (or, for
//! comparison, the stock Node `@automerge/automerge-repo-sync-server`) and run devices (the
//! core's document and sync engine) over real WebSockets. The server process, the HTTP client,
//! the fixtures and the strict reading of answers come from `baoming-test-support`, which the
//! server's own tests share.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use automerge::ActorId;
use baoming_core::document::{DocumentId, RegistrationDoc};
use baoming_core::sync::PeerSync;
use baoming_core::wire::{WireMessage, decode, encode};
pub use baoming_test_support::DEMO_EXAM as EXAM;
use baoming_test_support::{Server, ServerBuilder, rss_bytes};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The server binary the harnesses drive: `BENCH_SERVER_BINARY` when set (the test command
/// points the smoke runs at the debug build it has anyway), else the release binary built by
/// `cargo build --release -p baoming-server`.
pub fn release_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("BENCH_SERVER_BINARY") {
        let bin = PathBuf::from(bin);
        return if bin.exists() {
            Ok(bin)
        } else {
            Err(format!("BENCH_SERVER_BINARY={} does not exist", bin.display()))
        };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("release").join("baoming-server");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!("{} is missing: run `cargo build --release -p baoming-server` first", bin.display()))
    }
}

/// Starts `binary serve` on a free port with a temporary database, as in production but for
/// Argon2, which runs with small parameters (explicitly allowed for tests) because these
/// harnesses measure sync and submissions, not logins. With `catalog` (TOML), the catalog is
/// imported by `admin catalog import` before the first start, so the server serves it instead of
/// seeding the demo catalog.
pub fn start_server(binary: &Path, catalog: Option<&str>) -> Result<Server, String> {
    let builder = ServerBuilder::new(binary).system_clock();
    match catalog {
        Some(toml) => builder.catalog(toml).try_start(),
        None => builder.try_start(),
    }
}

/// The sync endpoint of a server at `addr`.
pub fn sync_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/api/sync")
}

/// The stock Node sync server from npm (`@automerge/automerge-repo-sync-server`, installed in
/// `tests/interop` by the test command), on a free port with a temporary storage folder. It
/// speaks the same protocol "1" and accepts any path and any peer, so the harness's devices
/// run the same workload against it.
#[derive(Debug)]
pub struct NodeSyncServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl NodeSyncServer {
    /// The entry point of the npm package, if installed.
    pub fn entry_point() -> Result<PathBuf, String> {
        let entry = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("interop/node_modules/@automerge/automerge-repo-sync-server/src/index.js");
        if entry.exists() {
            Ok(entry)
        } else {
            Err(format!("{} is missing: run `npm install --prefix tests/interop`", entry.display()))
        }
    }

    /// Starts `node <entry point>` and waits until it listens.
    pub fn start() -> Result<NodeSyncServer, String> {
        let entry = NodeSyncServer::entry_point()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut child = Command::new("node")
            .arg(&entry)
            .env("PORT", port.to_string())
            .env("DATA_DIR", data.path())
            .current_dir(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start node {}: {e}", entry.display()))?;
        let mut reader = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("the Node sync server exited before listening".into());
            }
            if line.starts_with("Listening on port") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        Ok(NodeSyncServer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _data: data })
    }

    /// The server's resident memory in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.child.id())
    }

    /// The sync endpoint (the Node server answers upgrades on any path).
    pub fn sync_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for NodeSyncServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A device connected to the server: the core's document and sync engine over a WebSocket.
pub struct Device {
    /// The registration document.
    pub doc: RegistrationDoc,
    sync: PeerSync,
    doc_id: String,
    peer_id: String,
    server_peer_id: String,
    ws: Ws,
    /// Bytes of frames sent and received so far.
    pub wire_bytes: usize,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("doc_id", &self.doc_id).finish_non_exhaustive()
    }
}

impl Device {
    /// Connects to `url`, joins and syncs the candidate's document until the server is quiet.
    pub async fn connect(url: &str, account: &str, token: &str, n: u32) -> Result<Device, String> {
        Device::connect_document(url, DocumentId::derive(EXAM, account), token, n).await
    }

    /// [`Device::connect`] for a given document id.
    pub async fn connect_document(url: &str, id: DocumentId, token: &str, n: u32) -> Result<Device, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        let auth = format!("Bearer {token}").parse().map_err(|_| "bad token header".to_owned())?;
        req.headers_mut().insert("authorization", auth);
        let (ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| e.to_string())?;
        let mut actor = [0u8; 16];
        actor[..4].copy_from_slice(&n.to_be_bytes());
        actor[15] = 1;
        let mut device = Device {
            doc: RegistrationDoc::new(EXAM, ActorId::from(&actor[..])).map_err(|e| e.to_string())?,
            sync: PeerSync::new(),
            doc_id: id.to_string(),
            peer_id: format!("bench-{n}"),
            server_peer_id: String::new(),
            ws,
            wire_bytes: 0,
        };
        device
            .send(&WireMessage::Join {
                sender_id: device.peer_id.clone(),
                supported_protocol_versions: vec!["1".into()],
                peer_metadata: None,
            })
            .await?;
        match device.recv().await? {
            WireMessage::Peer { sender_id, .. } => device.server_peer_id = sender_id,
            other => return Err(format!("expected peer, got {other:?}")),
        }
        // The device holds the document (from genesis), so it opens with `sync`, as a stock
        // automerge-repo peer does for a document it has; `request` means "I have nothing".
        device.exchange().await?;
        Ok(device)
    }

    async fn send(&mut self, m: &WireMessage) -> Result<(), String> {
        let bytes = encode(m);
        self.wire_bytes += bytes.len();
        self.ws.send(Message::binary(bytes)).await.map_err(|e| e.to_string())
    }

    async fn recv(&mut self) -> Result<WireMessage, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    self.wire_bytes += b.len();
                    return decode(&b).map_err(|e| e.to_string());
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("connection closed".into()),
            }
        }
    }

    fn frame(&self, data: Vec<u8>) -> WireMessage {
        WireMessage::Sync {
            sender_id: self.peer_id.clone(),
            target_id: self.server_peer_id.clone(),
            document_id: self.doc_id.clone(),
            data,
        }
    }

    /// Sends what this device has and applies the server's answers until neither side has more
    /// to say. The server answers every message that changes what it knows; a message that
    /// changes nothing may go unanswered, so a quiet 200 ms ends the exchange.
    pub async fn exchange(&mut self) -> Result<(), String> {
        loop {
            let Some(data) = self.sync.generate(&mut self.doc) else { return Ok(()) };
            let m = self.frame(data);
            self.send(&m).await?;
            match tokio::time::timeout(std::time::Duration::from_millis(200), self.recv()).await {
                Ok(Ok(WireMessage::Sync { data, .. })) => {
                    self.sync.receive_trusted(&mut self.doc, &data).map_err(|e| e.to_string())?
                }
                Ok(Ok(other)) => return Err(format!("unexpected {other:?}")),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            }
        }
    }

    /// One round trip: sends what this device has and waits for the server's acknowledgement.
    pub async fn round_trip(&mut self) -> Result<(), String> {
        let data = self.sync.generate(&mut self.doc).ok_or("nothing to send")?;
        let m = self.frame(data);
        self.send(&m).await?;
        loop {
            match self.recv().await? {
                WireMessage::Sync { data, .. } => {
                    return self.sync.receive_trusted(&mut self.doc, &data).map_err(|e| e.to_string());
                }
                // Gossip a server may volunteer (other implementations do) is not an answer.
                WireMessage::Ephemeral { .. } | WireMessage::Other { .. } => continue,
                other => return Err(format!("unexpected {other:?}")),
            }
        }
    }

    /// Prepares `count` sync messages, each carrying one more field edit on top of the previous
    /// one, exactly as this device would send them one at a time (its heads, the heads it last
    /// shared, the new change). A load generator sends them later without doing the device's
    /// Automerge work while it measures, so the machine's cores go to the server. The device
    /// must be in sync with the server first (after [`Device::connect`]).
    pub fn script(&mut self, count: usize, tag: &str) -> Result<Vec<Vec<u8>>, String> {
        use automerge::sync::{BloomFilter, Have, Message, MessageVersion};
        let _ = self.doc.save_incremental();
        let mut prepared = Vec::with_capacity(count);
        for k in 0..count {
            let last_sync = self.doc.heads();
            self.doc.set_field("address", &format!("{tag}{k}")).map_err(|e| e.to_string())?;
            let change = self.doc.save_incremental();
            let message = Message {
                heads: self.doc.heads(),
                need: Vec::new(),
                have: vec![Have { last_sync, bloom: BloomFilter::default() }],
                changes: vec![change].into(),
                flags: None,
                version: MessageVersion::V1,
            };
            prepared.push(message.encode());
        }
        Ok(prepared)
    }

    /// Sends one message prepared by [`Device::script`] and waits for the server's answer,
    /// which is not applied (the script already holds what it would bring).
    pub async fn send_scripted(&mut self, data: Vec<u8>) -> Result<(), String> {
        let m = self.frame(data);
        self.send(&m).await?;
        loop {
            match self.recv().await? {
                WireMessage::Sync { .. } => return Ok(()),
                WireMessage::Ephemeral { .. } | WireMessage::Other { .. } => continue,
                other => return Err(format!("unexpected {other:?}")),
            }
        }
    }

    /// Waits for one pushed message and applies it.
    pub async fn receive_push(&mut self) -> Result<(), String> {
        match self.recv().await? {
            WireMessage::Sync { data, .. } => {
                self.sync.receive_trusted(&mut self.doc, &data).map_err(|e| e.to_string())
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}
