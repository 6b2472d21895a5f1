//! heddle's RPC with its metrics exported to Prometheus: the library
//! records through the `metrics` facade only; this program installs
//! `metrics-exporter-prometheus` as the recorder, makes a few calls over
//! loopback and prints what a Prometheus scrape would get. A service would
//! call `PrometheusBuilder::new().with_http_listener(addr).install()`
//! instead, which also serves `/metrics` over HTTP.
//!
//! ```text
//! cargo run --example rpc_prometheus
//! ```

use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, metrics, serve};
use heddle::net::{Addr, Network, Tokio};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio_util::sync::CancellationToken;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Installed before the first metric is touched; the handle renders
    // the scrape in-process.
    let handle = PrometheusBuilder::new().install_recorder()?;
    metrics::describe();

    let router = Router::new().route(
        "add",
        |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) },
    );
    let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await?;
    let addr = Addr::new("127.0.0.1", listener.local_addr()?.port());
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        router,
        ServerConfig::new(b"token".to_vec()),
        stop.clone(),
    ));
    let client = Client::new(Tokio, addr, ClientConfig::new(b"token".to_vec()));
    for n in 0..10i64 {
        let sum: i64 = client.call("add", &(n, n)).await?;
        assert_eq!(sum, 2 * n);
    }
    client.close().await;
    stop.cancel();
    server.await??;
    print!("{}", handle.render());
    Ok(())
}
