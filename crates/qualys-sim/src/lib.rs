//! A Qualys API simulator for tests and benchmarks: replays recorded bodies, generates large
//! deterministic subscriptions and injects faults.
//!
//! ```no_run
//! # async fn demo() -> Result<(), qgraph_qualys_sim::SimError> {
//! use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule, GeneratedConfig, SimConfig, Simulator};
//!
//! let sim = Simulator::start(SimConfig::generated(GeneratedConfig::default())).await?;
//! sim.handle().inject(FaultRule::once(Endpoint::HostDetection, FaultKind::ResetMidBody));
//! println!("{}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod base64;
pub mod client;
mod config;
mod error;
mod fault;
mod limits;
mod model;
mod params;
mod render;
mod replay;
mod rng;
mod server;
mod source;
mod stream;
mod summary;
mod time;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use base64::encode as base64_encode;
pub use config::{
    Credentials, DEFAULT_PASSWORD, DEFAULT_USERNAME, DataSource, GeneratedConfig, Limits, SimConfig,
};
pub use error::SimError;
pub use fault::{Endpoint, FaultKind, FaultRule, Repeat};
pub use model::{DetectionStatus, DetectionType};
pub use summary::{Summary, SummaryFilter, summary};
pub use time::{format_timestamp, parse_timestamp};

use server::AppState;
use source::Source;

/// How long [`RunningSimulator::shutdown`] waits for open responses before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Entry point of the simulator.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Loads the data source, binds the loopback address and starts serving in the background.
    pub async fn start(config: SimConfig) -> Result<RunningSimulator, SimError> {
        config.validate()?;
        let source = match &config.source {
            DataSource::Generated(generated) => {
                Source::Generated(Arc::new(model::Subscription::new(generated.clone())))
            }
            DataSource::Replay { dir } => Source::Replay(Arc::new(replay::Replay::load(dir)?)),
        };
        let addr = SocketAddr::new(config.bind_ip, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = Arc::new(AppState {
            source,
            credentials: config.credentials.clone(),
            faults: fault::FaultTable::new(config.faults.clone()),
            limiter: limits::Limiter::new(config.limits),
            base_url: Arc::from(format!("http://{local_addr}")),
            shutdown: stop_rx.clone(),
            requests: Default::default(),
        });
        let mut signal = stop_rx;
        let serve = axum::serve(listener, server::app(Arc::clone(&state))).with_graceful_shutdown(
            async move {
                // An error means the sender is gone, which also means stop.
                let _ = signal.wait_for(|stopped| *stopped).await;
            },
        );
        let task = tokio::spawn(async move {
            if let Err(error) = serve.into_future().await {
                tracing::error!(%error, "simulator server failed");
            }
        });
        tracing::info!(url = %state.base_url, "Qualys simulator listening");
        Ok(RunningSimulator {
            local_addr,
            handle: SimHandle { state },
            stop: stop_tx,
            task,
        })
    }
}

/// A simulator serving in the background; stop it with [`RunningSimulator::shutdown`].
#[derive(Debug)]
pub struct RunningSimulator {
    local_addr: SocketAddr,
    handle: SimHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    /// The base URL to configure as the Qualys API URL, such as `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        self.handle.state.base_url.to_string()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that changes faults and limits while the simulator runs.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and waits up to 5 s for open responses to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Changes faults and limits of a running simulator and reads its request counters.
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<AppState>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.state.base_url)
            .finish()
    }
}

impl SimHandle {
    /// Arms a fault; faults on one endpoint apply in the order they were armed.
    pub fn inject(&self, rule: FaultRule) {
        self.state.inject(rule);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// Replaces the rate and concurrency limits; the current window's call count is kept.
    pub fn set_limits(&self, limits: Limits) {
        self.state.set_limits(limits);
    }

    /// Requests received by an endpoint, including rejected ones.
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.state.request_count(endpoint)
    }
}
