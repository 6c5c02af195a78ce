//! `cargo xtask bench pg-client`: the PostgreSQL client choice of issue 13, measured. The same
//! read (an item by id, the query `PostgresStore::item` runs, its label decoded) three ways, on
//! the same database, in one run:
//!
//! - `store`: `PostgresStore::item` from tasks of a two-thread tokio runtime, as the node calls
//!   it: the synchronous `postgres` client in `block_in_place` (`off_runtime`), up to 16
//!   pooled connections.
//! - `tokio-postgres`: the asynchronous client the `postgres` crate wraps (and deadpool pools),
//!   16 connections shared by the tasks of the same runtime, statements prepared once.
//! - `threads`: the synchronous client on OS threads, one connection each: what the client
//!   costs without the scoped thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gsomia_store::Store as _;

const SQL: &str = "SELECT seq, stix_id, modified, stix_type, label, marking, custody, binding, \
                   wrapped_key, content, added, destroyed FROM items WHERE stix_id = $1 \
                   ORDER BY modified DESC LIMIT 1";

/// A read as the store makes it: the label decoded, the content taken.
fn decode(row: &tokio_postgres::Row) -> usize {
    let label: gsomia_core::Label =
        serde_json::from_str(row.get::<_, &str>(4)).expect("a stored label");
    let content: Option<Vec<u8>> = row.get(9);
    label.topics.len() + content.map_or(0, |c| c.len())
}

pub fn bench(seconds: u64, tasks: usize, items: u64) -> Result<()> {
    let url = crate::stores::database("pg_client")?;
    let store = Arc::new(gsomia_store::PostgresStore::open(&url)?);
    let filled = crate::fill(&store, 0, items);
    let ids: Arc<Vec<gsomia_core::ItemId>> = Arc::new(
        store
            .items_after(0, items as usize)?
            .into_iter()
            .map(|s| s.id)
            .collect(),
    );
    println!(
        "{items} items on PostgreSQL ({filled:.0} items/s filled); {tasks} concurrent readers, \
         {seconds} s each, one item by id per call"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let deadline = Duration::from_secs(seconds);

    // The store, as the node calls it.
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (store, ids, calls) = (store.clone(), ids.clone(), calls.clone());
                tokio::spawn(async move {
                    let mut n = t;
                    while started.elapsed() < deadline {
                        let got = store.item(&ids[n % ids.len()], None).expect("a read");
                        assert!(got.is_some());
                        calls.fetch_add(1, Ordering::Relaxed);
                        n += tasks;
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a reader");
        }
    });
    let store_rate = calls.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    store.close();

    // tokio-postgres, 16 connections.
    let calls = Arc::new(AtomicU64::new(0));
    let elapsed = runtime.block_on(async {
        let mut clients = vec![];
        for _ in 0..16 {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .context("connecting")?;
            tokio::spawn(connection);
            let statement = client.prepare(SQL).await?;
            clients.push(Arc::new((client, statement)));
        }
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (c, ids, calls) = (clients[t % 16].clone(), ids.clone(), calls.clone());
                tokio::spawn(async move {
                    let mut n = t;
                    while started.elapsed() < deadline {
                        let id = ids[n % ids.len()].as_str();
                        let row = c.0.query_opt(&c.1, &[&id]).await.expect("a read");
                        assert!(decode(&row.expect("the item")) > 0);
                        calls.fetch_add(1, Ordering::Relaxed);
                        n += tasks;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a reader");
        }
        anyhow::Ok(started.elapsed())
    })?;
    let async_rate = calls.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();

    // The synchronous client on OS threads.
    let calls = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (url, ids, calls) = (url.clone(), ids.clone(), calls.clone());
            std::thread::spawn(move || {
                let mut client =
                    postgres::Client::connect(&url, postgres::NoTls).expect("connecting");
                let statement = client.prepare(SQL).expect("preparing");
                let mut n = t;
                while started.elapsed() < deadline {
                    let id = ids[n % ids.len()].as_str();
                    let row = client.query_opt(&statement, &[&id]).expect("a read");
                    assert!(decode(&row.expect("the item")) > 0);
                    calls.fetch_add(1, Ordering::Relaxed);
                    n += tasks;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a reader");
    }
    let thread_rate = calls.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

    println!("| client | reads/s | ratio to tokio-postgres |");
    println!("| --- | ---: | ---: |");
    for (name, rate) in [
        (
            "store (`postgres` in `block_in_place`, 16 connections)",
            store_rate,
        ),
        ("tokio-postgres, 16 connections", async_rate),
        ("`postgres` on OS threads, a connection each", thread_rate),
    ] {
        println!("| {name} | {rate:.0} | {:.2} |", rate / async_rate);
    }
    Ok(())
}
