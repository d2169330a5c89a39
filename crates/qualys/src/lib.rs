//! Qualys API client: HTTP transport, authentication, rate-limit and concurrency governor, retry policy, streaming XML parsers yielding typed records, and the error taxonomy.

pub mod api_url;
pub mod client;
pub mod credentials;
pub mod dates;
pub mod endpoint;
pub mod error;
pub mod governor;
pub mod parse;
pub mod records;
pub mod request;
pub mod retry;
mod utf8;
pub mod xml;

pub use api_url::{ApiUrl, Loopback};
pub use client::{ClientConfig, QualysClient, RecordResult};
pub use credentials::{Credentials, Secret};
pub use endpoint::{ApiFamily, Endpoint};
pub use error::{
    ApiErrorBody, Method, PageRequest, ParseError, QualysError, RecordError, TransportKind,
};
pub use governor::{Governor, GovernorConfig};
pub use parse::ResultsOptions;
pub use records::*;
pub use request::{DetectionQuery, HostIdQuery, WebAppFindingQuery, WebAppQuery};
pub use retry::{RetryDecision, RetryPolicy, Retryable};
