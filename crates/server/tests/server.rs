//! The server library, driven in-process: bind port 0, run, talk to it with our DEALER and
//! with raw ZMTP bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use courier_app::Shutdown;
use courier_server::{Server, ServerConfig};
use courier_socket::proto::curve::{Authorizer, Keypair};
use courier_socket::{runtime, Dealer, Message, Multipart, Options, Security};

const SOON: Duration = Duration::from_secs(5);

fn config() -> ServerConfig {
    ServerConfig {
        bind: "tcp://127.0.0.1:0".into(),
        interval: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

/// Binds `server`, runs it in the background; returns its endpoint and the stop handle.
async fn start(server: Server) -> (String, Stop) {
    let bound = server.bind().await.unwrap();
    let endpoint = bound.endpoint().to_string();
    let (stop, shutdown) = Shutdown::manual();
    runtime::spawn(async move { bound.run(shutdown).await.unwrap() });
    (endpoint, Stop(stop))
}

/// Stops the server when dropped.
struct Stop(async_channel::Sender<()>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.close();
    }
}

async fn recv(dealer: &Dealer) -> Message {
    let msg = runtime::timeout(SOON, dealer.recv())
        .await
        .expect("timed out")
        .unwrap();
    Message::decode(&msg).unwrap()
}

#[test]
fn greets_a_client_and_runs_custom_handlers_and_tasks() {
    runtime::block_on(async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ticks = Arc::new(Mutex::new(0u32));
        let mut server = Server::new(config());
        let log = seen.clone();
        server.on("CTRL", move |ctx, msg| {
            let Message::Control { text } = Message::decode(msg)? else {
                return Err("not CTRL".into());
            };
            log.lock().unwrap().push((ctx.peer().clone(), text.clone()));
            ctx.reply(Message::Control {
                text: format!("echo {text}"),
            });
            Ok(())
        });
        let t = ticks.clone();
        server.every(Duration::from_millis(50), move |_| *t.lock().unwrap() += 1);
        let (endpoint, _stop) = start(server).await;

        let dealer = Dealer::new(Options {
            routing_id: "client-1".into(),
            ..Options::default()
        });
        dealer.connect(&endpoint).unwrap();
        dealer.send(Message::Hello.encode()).await.unwrap();
        assert_eq!(recv(&dealer).await, Message::Hello);

        // A bad message and an unknown type are survived.
        dealer.send(Multipart::from("BOGUS")).await.unwrap();
        dealer.send(Multipart::from("FILE")).await.unwrap();
        dealer
            .send(Message::Control { text: "hi".into() }.encode())
            .await
            .unwrap();
        loop {
            match recv(&dealer).await {
                Message::Hello => continue,
                other => {
                    assert_eq!(
                        other,
                        Message::Control {
                            text: "echo hi".into()
                        }
                    );
                    break;
                }
            }
        }
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            &[(bytes::Bytes::from_static(b"client-1"), "hi".to_owned())]
        );
        assert!(*ticks.lock().unwrap() >= 1);
    });
}

#[test]
fn saves_files_in_the_inbox_and_refuses_escaping_names() {
    let inbox = std::env::temp_dir().join(format!("courier-server-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&inbox);
    runtime::block_on(async {
        let (endpoint, _stop) = start(Server::new(ServerConfig {
            inbox: Some(inbox.clone()),
            ..config()
        }))
        .await;
        let dealer = Dealer::new(Options::default());
        dealer.connect(&endpoint).unwrap();
        for (name, contents) in [("../evil", &b"no"[..]), ("ok.bin", &b"\x00\x01yes"[..])] {
            let file = Message::File {
                name: name.into(),
                contents: bytes::Bytes::copy_from_slice(contents),
            };
            dealer.send(file.encode()).await.unwrap();
        }
        dealer.send(Message::Hello.encode()).await.unwrap();
        assert_eq!(recv(&dealer).await, Message::Hello);
        for _ in 0..50 {
            if inbox.join("ok.bin").exists() {
                break;
            }
            runtime::sleep(Duration::from_millis(20)).await;
        }
    });
    assert_eq!(std::fs::read(inbox.join("ok.bin")).unwrap(), b"\x00\x01yes");
    assert!(!inbox.parent().unwrap().join("evil").exists());
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 1);
    std::fs::remove_dir_all(&inbox).unwrap();
}

#[test]
fn handlers_see_the_clients_curve_key() {
    runtime::block_on(async {
        let server_pair = Keypair::generate();
        let client_pair = Keypair::generate();
        let client_public = *client_pair.public();
        let seen = Arc::new(Mutex::new(None));
        let mut config = config();
        config.socket.security = Security::curve_server(
            server_pair.secret().clone(),
            Authorizer::allow_keys([client_public]),
        );
        let mut server = Server::new(config);
        let s = seen.clone();
        server.on("CTRL", move |ctx, _| {
            *s.lock().unwrap() = ctx.peer_public_key().copied();
            ctx.reply(Message::Control { text: "ok".into() });
            Ok(())
        });
        let (endpoint, _stop) = start(server).await;
        let dealer = Dealer::new(Options {
            security: Security::curve_client(client_pair, *server_pair.public()),
            ..Options::default()
        });
        dealer.connect(&endpoint).unwrap();
        dealer
            .send(Message::Control { text: "who".into() }.encode())
            .await
            .unwrap();
        loop {
            if recv(&dealer).await == (Message::Control { text: "ok".into() }) {
                break;
            }
        }
        assert_eq!(*seen.lock().unwrap(), Some(client_public));
    });
}

#[test]
fn handlers_see_the_user_id_and_address_given_by_the_authenticator() {
    runtime::block_on(async {
        let auth = courier_app::auth::Authenticator::new();
        auth.configure_plain("*", [("admin".to_owned(), "secret".to_owned())]);
        let seen = Arc::new(Mutex::new(None));
        let mut config = config();
        config.socket.security = Security::PlainServer;
        config.socket.authenticator = Some(Arc::new(auth));
        let mut server = Server::new(config);
        let s = seen.clone();
        server.on("CTRL", move |ctx, _| {
            let props = ctx.peer_properties().cloned();
            *s.lock().unwrap() = Some((ctx.user_id().to_vec(), props.map(|p| p.peer_address)));
            ctx.reply(Message::Control { text: "ok".into() });
            Ok(())
        });
        let (endpoint, _stop) = start(server).await;
        let dealer = Dealer::new(Options {
            security: Security::PlainClient(
                courier_socket::proto::plain::PlainClient::new("admin", "secret").unwrap(),
            ),
            ..Options::default()
        });
        dealer.connect(&endpoint).unwrap();
        dealer
            .send(Message::Control { text: "who".into() }.encode())
            .await
            .unwrap();
        loop {
            if recv(&dealer).await == (Message::Control { text: "ok".into() }) {
                break;
            }
        }
        assert_eq!(
            *seen.lock().unwrap(),
            Some((b"admin".to_vec(), Some("127.0.0.1".to_owned())))
        );
    });
}

/// A client written byte by byte (what pyzmq sends, from the captured vectors): the server
/// answers its HELLO with a HELLO frame.
#[test]
fn speaks_raw_zmtp() {
    let (endpoint, _stop) = runtime::block_on(start(Server::new(config())));
    let port = endpoint.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut greeting = [0u8; 64];
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[11] = 1;
    greeting[12..16].copy_from_slice(b"NULL");
    s.write_all(&greeting).unwrap();
    // READY, Socket-Type=DEALER, Identity=raw (libzmq's layout).
    let mut ready =
        b"\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x03raw".to_vec();
    ready.insert(0, u8::try_from(ready.len()).unwrap());
    ready.insert(0, 0x04);
    s.write_all(&ready).unwrap();
    s.write_all(b"\x00\x05HELLO").unwrap();

    let mut peer_greeting = [0u8; 64];
    s.read_exact(&mut peer_greeting).unwrap();
    assert_eq!(&peer_greeting[..12], b"\xff\0\0\0\0\0\0\0\0\x7f\x03\x01");
    assert_eq!(&peer_greeting[12..16], b"NULL");
    // The server's READY, then HELLO frames every interval.
    let mut header = [0u8; 2];
    s.read_exact(&mut header).unwrap();
    assert_eq!(header[0], 0x04);
    let mut body = vec![0u8; usize::from(header[1])];
    s.read_exact(&mut body).unwrap();
    assert!(body.starts_with(b"\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER"));
    let mut hello = [0u8; 7];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"\x00\x05HELLO");
}
