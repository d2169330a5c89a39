//! The two data sources behind the endpoints: a generated subscription or a fixture replay.

use std::sync::Arc;

use crate::fault::Endpoint;
use crate::model::Subscription;
use crate::params::{ParamError, Params, ServiceRequest};
use crate::render::qps::QpsError;
use crate::render::{self, Ctx};
use crate::replay::Replay;
use crate::stream::Producer;

/// Where bodies come from.
pub(crate) enum Source {
    Generated(Arc<Subscription>),
    Replay(Arc<Replay>),
}

impl Source {
    /// The simulated current time, written in `DATETIME`.
    pub(crate) fn now_secs(&self) -> i64 {
        match self {
            Source::Generated(sub) => sub.now_secs(),
            Source::Replay(replay) => replay.now_secs,
        }
    }

    pub(crate) fn portal_version(&self, ctx: Ctx) -> Producer {
        let body = match self {
            Source::Generated(_) => render::portal_version(&ctx.base_url),
            Source::Replay(replay) => replay.portal_version.clone(),
        };
        Box::new(move |sink| {
            sink.out().extend_from_slice(&body);
            Ok(())
        })
    }

    /// Host list, detections and knowledge base.
    pub(crate) fn api_v2(
        &self,
        endpoint: Endpoint,
        ctx: Ctx,
        params: Params,
    ) -> Result<Producer, ParamError> {
        match (self, endpoint) {
            (Source::Generated(sub), Endpoint::HostList) => {
                render::hosts::host_list(Arc::clone(sub), ctx, params)
            }
            (Source::Generated(sub), Endpoint::HostDetection) => {
                render::detections::detection_list(Arc::clone(sub), ctx, params)
            }
            (Source::Generated(sub), _) => render::kb::vuln_list(Arc::clone(sub), ctx, params),
            (Source::Replay(replay), _) => {
                Replay::api_v2(Arc::clone(replay), endpoint, ctx, params)
            }
        }
    }

    /// Host asset, web app and finding searches.
    pub(crate) fn qps(
        &self,
        endpoint: Endpoint,
        ctx: Ctx,
        request: ServiceRequest,
    ) -> Result<Producer, QpsError> {
        match (self, endpoint) {
            (Source::Generated(sub), Endpoint::WebApp) => {
                render::was::web_app_search(Arc::clone(sub), ctx, request)
            }
            (Source::Generated(sub), Endpoint::WebAppFinding) => {
                render::was::finding_search(Arc::clone(sub), ctx, request)
            }
            (Source::Generated(sub), _) => {
                render::assets::host_asset_search(Arc::clone(sub), ctx, request)
            }
            (Source::Replay(replay), _) => Replay::qps(Arc::clone(replay), endpoint, ctx, request),
        }
    }
}
