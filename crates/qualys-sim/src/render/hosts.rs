//! `GET|POST /api/2.0/fo/asset/host/?action=list`: scanned host ids, paged with `id_min`.

use std::sync::Arc;

use super::{
    Ctx, close_v2_report, elem_cdata, elem_text, elem_time, elem_u64, end, open_v2_report, start,
    warning_1980,
};
use crate::model::{HostFilter, Subscription, TAG_NAMES, normalize_ranges};
use crate::params::{ParamError, Params};
use crate::stream::Producer;

/// Path of the host list endpoint.
pub(crate) const PATH: &str = "/api/2.0/fo/asset/host/";
const ROOT: &str = "HOST_LIST_OUTPUT";
/// Qualys' default `truncation_limit` for the host list and the detection list.
pub(crate) const DEFAULT_TRUNCATION: u64 = 1_000;

/// Host filters common to the host list and the detection list.
pub(crate) fn host_filter(params: &Params) -> Result<HostFilter, ParamError> {
    let ids = params.ids("ids")?.map(normalize_ranges);
    Ok(HostFilter {
        processed_after: params.date("vm_processed_after")?,
        processed_before: params.date("vm_processed_before")?,
        any_tags: tag_mask(params)?,
        ids,
        id_min: params.u64("id_min")?,
        id_max: params.u64("id_max")?,
    })
}

/// `tag_set_include` applies only with `use_tags=1`; `tag_set_by` is `id` (default) or `name`.
fn tag_mask(params: &Params) -> Result<Option<u16>, ParamError> {
    if !params.flag("use_tags")? {
        return Ok(None);
    }
    let Some(include) = params.get("tag_set_include").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let by_name = match params.get("tag_set_by") {
        None | Some("") | Some("id") => false,
        Some("name") => true,
        Some(other) => {
            return Err(ParamError::Invalid {
                name: "tag_set_by",
                value: other.to_owned(),
                detail: "expected id or name",
            });
        }
    };
    let mut mask = 0u16;
    for item in include.split(',').map(str::trim) {
        let position = if by_name {
            TAG_NAMES.iter().position(|name| *name == item)
        } else {
            let id: u64 = item.parse().map_err(|_| ParamError::Invalid {
                name: "tag_set_include",
                value: include.to_owned(),
                detail: "tag ids are integers",
            })?;
            (0..TAG_NAMES.len()).find(|t| Subscription::tag_id(*t) == id)
        };
        if let Some(t) = position {
            mask |= 1 << t;
        }
    }
    Ok(Some(mask))
}

pub(crate) fn truncation_limit(params: &Params) -> Result<u64, ParamError> {
    Ok(params
        .u64("truncation_limit")?
        .unwrap_or(DEFAULT_TRUNCATION))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Details {
    None,
    Basic,
}

pub(crate) fn host_list(
    sub: Arc<Subscription>,
    ctx: Ctx,
    params: Params,
) -> Result<Producer, ParamError> {
    params.require_action_list()?;
    let details = match params.get("details") {
        Some("None") => Details::None,
        None | Some("") | Some("Basic") | Some("All") => Details::Basic,
        Some(other) => {
            return Err(ParamError::Invalid {
                name: "details",
                value: other.to_owned(),
                detail: "expected None, Basic or All",
            });
        }
    };
    let filter = host_filter(&params)?;
    let limit = truncation_limit(&params)?;
    Ok(Box::new(move |sink| {
        let out = sink.out();
        open_v2_report(
            out,
            &ctx.base_url,
            ROOT,
            "/api/2.0/fo/asset/host/dtd/list/output.dtd",
            ctx.now_secs,
        );
        let list = if details == Details::None {
            "ID_SET"
        } else {
            "HOST_LIST"
        };
        let mut index = filter
            .id_min
            .map_or(0, |id| sub.first_index_at_or_above(id));
        let mut count = 0;
        let mut next_id = None;
        while let Some(host) = sub.next_host(index, &filter) {
            if limit != 0 && count == limit {
                next_id = Some(host.id);
                break;
            }
            let out = sink.out();
            if count == 0 {
                start(out, 4, list);
            }
            if details == Details::None {
                elem_u64(out, 6, "ID", host.id);
            } else {
                let attrs = sub.host_attrs(&host);
                start(out, 6, "HOST");
                elem_u64(out, 8, "ID", host.id);
                if let Some(ip) = &attrs.ipv4 {
                    elem_text(out, 8, "IP", ip);
                }
                if let Some(ip) = &attrs.ipv6 {
                    elem_text(out, 8, "IPV6", ip);
                }
                elem_text(out, 8, "TRACKING_METHOD", attrs.tracking_method);
                elem_cdata(out, 8, "DNS", &attrs.dns);
                elem_cdata(out, 8, "OS", attrs.os);
                elem_time(out, 8, "LAST_VULN_SCAN_DATETIME", host.last_scan_secs);
                elem_time(out, 8, "LAST_VM_SCANNED_DATE", host.last_scan_secs);
                end(out, 6, "HOST");
            }
            count += 1;
            index = host.index + 1;
            sink.boundary()?;
        }
        let out = sink.out();
        if count > 0 {
            end(out, 4, list);
        }
        if let Some(id) = next_id {
            let url = format!(
                "{}{PATH}?{}",
                ctx.base_url,
                params.query_with("id_min", &id.to_string())
            );
            warning_1980(out, limit, &url);
        }
        close_v2_report(out, ROOT, false);
        Ok(())
    }))
}
