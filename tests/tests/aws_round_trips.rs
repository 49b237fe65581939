//! Issue 17 on the AWS path: a function's SDK clients share one connection pool, so the
//! connections its init warm-up opens are the ones its first request uses; and a connection
//! update is one round trip (`TransactWriteItems`: the connection and its id index together).
//! On moto, through a loopback TCP relay that counts the connections opened to it.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use shared::aws::{provision, DynamoStore, SqsQueue};
use shared::domain::ConnectionStatus;
use shared::ports::{Connections, OutMessage, Queue, Records, UpdateOutcome};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A keep-alive HTTP/1.1 relay on a loopback port in front of `target` (`host:port`); counts
/// the client connections it accepts. moto answers every request with `Connection: close`,
/// so the relay keeps its clients' connections open itself (as AWS's endpoints do) and opens
/// one upstream connection per request. Lives as long as the test process.
fn counting_relay(target: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("local addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            std::thread::spawn(move || relay_requests(client, &target));
        }
    });
    (format!("http://{address}"), accepted)
}

/// Relays each request of one client connection until the client closes it.
fn relay_requests(client: TcpStream, target: &str) {
    let Ok(mut writer) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(client);
    while let Some((head, body)) = read_message(&mut reader) {
        let Ok(mut upstream) = TcpStream::connect(target) else {
            return;
        };
        if upstream.write_all(head.as_bytes()).is_err() || upstream.write_all(&body).is_err() {
            return;
        }
        let mut upstream = BufReader::new(upstream);
        let Some((head, body)) = read_message(&mut upstream) else {
            return;
        };
        let head: String = head
            .split_inclusive("\r\n")
            .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 message with a `Content-Length` body (or none): its head (through the blank
/// line) and its body; `None` at end of stream.
fn read_message(reader: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// GIVEN a function's table and queue behind a relay that counts connections, and the SDK
/// configuration from `shared::aws::load_config` WHEN the init warm-up runs (as every function's `main` does) and then the function's own clients, built
/// from the same configuration, read the table and send to the queue THEN the warm-up reached
/// both services, and those first requests opened no new connection: they used the ones the
/// warm-up left in the shared pool (no TLS handshake inside the first webhook's deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_requests_reuse_the_connections_the_init_warm_up_opened() {
    let moto = tests::moto_endpoint();
    let setup = tests::moto_config().await;
    let table = tests::unique("warm");
    provision::create_table(&aws_sdk_dynamodb::Client::new(&setup), &table)
        .await
        .unwrap();
    let (queue_url, _dlq) =
        provision::create_queue_with_dlq(&aws_sdk_sqs::Client::new(&setup), &table, 3, 30)
            .await
            .unwrap();
    let (relay, accepted) = counting_relay(moto.trim_start_matches("http://").to_owned());
    // A function's environment (the other test of this binary sets none of these and reads
    // none: its configuration is explicit), then its configuration as its `main` loads it.
    for (name, value) in [
        ("TABLE_NAME", table.as_str()),
        ("CHANNEL_EVENTS_QUEUE_URL", queue_url.as_str()),
        ("AWS_ENDPOINT_URL", relay.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ] {
        std::env::set_var(name, value);
    }
    let config = shared::aws::load_config().await;
    let warmed = shared::aws::warm_up(&config, "test").await;
    assert_eq!(warmed, ["dynamodb", "sqs"], "both services answered");
    let after_warm_up = accepted.load(Ordering::SeqCst);
    assert!(after_warm_up >= 1, "the warm-up went through the relay");

    let store = DynamoStore::from_config(&config, &table);
    let queue = SqsQueue::from_config(&config, &queue_url);
    assert_eq!(store.fetch("warm-up", "-").await.unwrap(), None);
    queue
        .send(OutMessage {
            body: "{}".to_owned(),
            dedup_id: None,
            group_id: None,
            tenant: None,
        })
        .await
        .unwrap();
    assert_eq!(store.fetch("warm-up", "-").await.unwrap(), None);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        after_warm_up,
        "the function's clients opened no connection of their own"
    );
}

/// Counts the DynamoDB requests a client sends.
#[derive(Debug, Clone, Default)]
struct RequestCounter(Arc<AtomicUsize>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// GIVEN a connection written before the id index existed (no `CONNID#` item) WHEN it is
/// updated THEN that is one request, and the index now finds it; and a stale copy's update
/// writes neither the connection nor the index (they change together or not at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_update_writes_the_connection_and_its_index_in_one_request() {
    let setup = tests::moto_config().await;
    let raw = aws_sdk_dynamodb::Client::new(&setup);
    let table = tests::unique("update");
    provision::create_table(&raw, &table).await.unwrap();
    let requests = RequestCounter::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&setup)
            .interceptor(requests.clone())
            .build(),
    );
    let store = DynamoStore::new(counted, &table);
    let index_key = |id: &str| {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(format!("CONNID#{id}"))),
            ("sk".to_owned(), AttributeValue::S("ID".to_owned())),
        ])
    };
    let drop_index = |id: String| {
        let raw = raw.clone();
        let table = table.clone();
        async move {
            raw.delete_item()
                .table_name(table)
                .set_key(Some(index_key(&id)))
                .send()
                .await
                .unwrap();
        }
    };

    // Updated: one request, and the index is back.
    let c = tests::contract::connection(&tests::unique("t"), &tests::unique("shop"));
    store.create(&c).await.unwrap();
    drop_index(c.id.to_string()).await;
    assert_eq!(
        store.find_by_id(&c.id).await.unwrap(),
        None,
        "a legacy connection"
    );
    let mut changed = c.clone();
    changed.status = ConnectionStatus::Disconnected;
    let before = requests.0.load(Ordering::SeqCst);
    let stored = store.update(&changed).await.unwrap().stored().unwrap();
    assert_eq!(
        requests.0.load(Ordering::SeqCst) - before,
        1,
        "one round trip"
    );
    assert_eq!(stored.version, c.version + 1);
    assert_eq!(store.find_by_id(&c.id).await.unwrap(), Some(stored.clone()));

    // Stale (the copy read before that update): nothing written, the index included.
    drop_index(c.id.to_string()).await;
    let mut stale = c.clone();
    stale.settings.import_unpaid = true;
    assert_eq!(store.update(&stale).await.unwrap(), UpdateOutcome::Stale);
    assert_eq!(
        store.find_by_id(&c.id).await.unwrap(),
        None,
        "no index written"
    );
    let now = store.get(&c.tenant, &c.id).await.unwrap().unwrap();
    assert_eq!(
        now, stored,
        "the connection is the one the first update wrote"
    );
}
