//! `POST /qps/rest/2.0/search/am/hostasset`: host assets by `qwebHostId` or asset id.

use std::sync::Arc;

use super::{
    Ctx, QpsPage, elem_bool, elem_text, elem_time, elem_u64, end, open_service_response,
    qps_page_footer, qps_page_header, start,
};
use crate::model::attrs::{ASSET_ID_OFFSET, Cloud};
use crate::model::{Host, HostFilter, Subscription, TAG_NAMES, normalize_ranges};
use crate::params::{Criterion, ServiceRequest};
use crate::render::qps::{QpsError, id_list, page_bounds};
use crate::stream::Producer;

pub(crate) const XSD: &str = "/qps/xsd/2.0/am/hostasset.xsd";

pub(crate) fn host_asset_search(
    sub: Arc<Subscription>,
    ctx: Ctx,
    request: ServiceRequest,
) -> Result<Producer, QpsError> {
    let filter = asset_filter(&request.criteria)?;
    let (offset, limit) = page_bounds(&request)?;
    let mut page = Vec::new();
    let mut index = filter
        .id_min
        .map_or(0, |id| sub.first_index_at_or_above(id));
    let mut skipped = 0;
    let mut has_more = false;
    while let Some(host) = sub.next_host(index, &filter) {
        index = host.index + 1;
        if skipped < offset {
            skipped += 1;
            continue;
        }
        if page.len() as u64 == limit {
            has_more = true;
            break;
        }
        page.push(host);
    }
    let header = QpsPage {
        count: page.len() as u64,
        has_more,
        empty_data: false,
        last_id: page.last().map(|h| h.id + ASSET_ID_OFFSET),
    };
    Ok(Box::new(move |sink| {
        open_service_response(sink.out(), &ctx.base_url, XSD);
        qps_page_header(sink.out(), &header);
        for host in &page {
            write_asset(&sub, sink.out(), host);
            sink.boundary()?;
        }
        qps_page_footer(sink.out(), &header);
        Ok(())
    }))
}

/// Maps `qwebHostId` and asset `id` criteria onto a host filter.
fn asset_filter(criteria: &[Criterion]) -> Result<HostFilter, QpsError> {
    let mut filter = HostFilter::default();
    for criterion in criteria {
        match criterion.field.as_str() {
            "qwebHostId" => {
                let ids = id_list(criterion, &["EQUALS", "IN"])?;
                filter.ids = Some(normalize_ranges(
                    ids.into_iter().map(|id| (id, id)).collect(),
                ));
            }
            "id" => {
                let ids = id_list(criterion, &["EQUALS", "IN", "GREATER", "LESSER"])?;
                let host_ids = ids.iter().map(|id| id.saturating_sub(ASSET_ID_OFFSET));
                match criterion.operator.as_str() {
                    "GREATER" => filter.id_min = host_ids.max().map(|id| id + 1),
                    "LESSER" => filter.id_max = host_ids.min().map(|id| id.saturating_sub(1)),
                    _ => {
                        let ranges = ids
                            .iter()
                            .filter(|id| **id >= ASSET_ID_OFFSET)
                            .map(|id| (id - ASSET_ID_OFFSET, id - ASSET_ID_OFFSET));
                        filter.ids = Some(normalize_ranges(ranges.collect()));
                    }
                }
            }
            other => return Err(QpsError::unknown_field(other)),
        }
    }
    Ok(filter)
}

fn write_asset(sub: &Subscription, out: &mut Vec<u8>, host: &Host) {
    let attrs = sub.host_attrs(host);
    let created = sub.config.start_secs + host.added_day * crate::time::DAY_SECS;
    start(out, 4, "HostAsset");
    elem_u64(out, 6, "id", host.id + ASSET_ID_OFFSET);
    elem_text(out, 6, "name", &attrs.dns);
    elem_time(out, 6, "created", created);
    elem_time(out, 6, "modified", host.last_scan_secs);
    elem_text(out, 6, "type", "HOST");
    start(out, 6, "tags");
    start(out, 8, "list");
    for (t, name) in TAG_NAMES.iter().enumerate() {
        if host.tags & (1 << t) != 0 {
            start(out, 10, "TagSimple");
            elem_u64(out, 12, "id", Subscription::tag_id(t));
            elem_text(out, 12, "name", name);
            end(out, 10, "TagSimple");
        }
    }
    end(out, 8, "list");
    end(out, 6, "tags");
    write_source_info(sub, out, host, &attrs.cloud, created);
    elem_u64(out, 6, "qwebHostId", host.id);
    elem_text(out, 6, "fqdn", &attrs.dns);
    elem_text(out, 6, "os", attrs.os);
    elem_text(out, 6, "dnsHostName", &attrs.dns);
    elem_text(out, 6, "address", attrs.address());
    elem_text(out, 6, "trackingMethod", attrs.asset_tracking_method);
    elem_time(out, 6, "lastVulnScan", host.last_scan_secs);
    if let Some(agent_id) = &attrs.agent_id {
        start(out, 6, "agentInfo");
        elem_text(out, 8, "agentId", agent_id);
        elem_text(out, 8, "agentVersion", "5.1.0.28");
        end(out, 6, "agentInfo");
    }
    elem_bool(out, 6, "isDockerHost", false);
    end(out, 4, "HostAsset");
}

fn write_source_info(
    sub: &Subscription,
    out: &mut Vec<u8>,
    host: &Host,
    cloud: &Cloud,
    created: i64,
) {
    start(out, 6, "sourceInfo");
    start(out, 8, "list");
    match cloud {
        Cloud::Ec2 {
            account_id,
            region,
            instance_id,
            state,
        } => {
            start(out, 10, "Ec2AssetSourceSimple");
            elem_u64(out, 12, "assetId", host.id + ASSET_ID_OFFSET);
            elem_text(out, 12, "type", "EC_2");
            elem_time(out, 12, "firstDiscovered", created);
            start(out, 12, "ec2InstanceTags");
            start(out, 14, "tags");
            start(out, 16, "list");
            for (key, value) in sub.ec2_tags(host) {
                start(out, 18, "EC2Tags");
                elem_text(out, 20, "key", key);
                elem_text(out, 20, "value", &value);
                end(out, 18, "EC2Tags");
            }
            end(out, 16, "list");
            end(out, 14, "tags");
            end(out, 12, "ec2InstanceTags");
            elem_text(out, 12, "availabilityZone", &format!("{region}a"));
            elem_text(out, 12, "instanceId", instance_id);
            elem_text(out, 12, "instanceType", "t3.medium");
            elem_text(out, 12, "instanceState", state);
            elem_text(out, 12, "accountId", account_id);
            elem_text(out, 12, "region", region);
            end(out, 10, "Ec2AssetSourceSimple");
        }
        Cloud::Azure {
            subscription_id,
            resource_group,
            name,
            vm_id,
            location,
        } => {
            start(out, 10, "AzureAssetSourceSimple");
            elem_u64(out, 12, "assetId", host.id + ASSET_ID_OFFSET);
            elem_text(out, 12, "type", "AZURE");
            elem_time(out, 12, "firstDiscovered", created);
            elem_text(out, 12, "name", name);
            elem_text(out, 12, "location", location);
            elem_text(out, 12, "vmId", vm_id);
            elem_text(out, 12, "state", "SUCCEEDED");
            elem_text(out, 12, "subscriptionId", subscription_id);
            elem_text(out, 12, "resourceGroupName", resource_group);
            end(out, 10, "AzureAssetSourceSimple");
        }
        Cloud::Gcp {
            project_id,
            project_number,
            zone,
            instance_id,
        } => {
            start(out, 10, "GcpAssetSourceSimple");
            elem_u64(out, 12, "assetId", host.id + ASSET_ID_OFFSET);
            elem_text(out, 12, "type", "GCP");
            elem_time(out, 12, "firstDiscovered", created);
            elem_u64(out, 12, "instanceId", *instance_id);
            elem_text(out, 12, "zone", zone);
            elem_u64(out, 12, "projectIdNo", *project_number);
            elem_text(out, 12, "state", "RUNNING");
            elem_text(out, 12, "projectId", project_id);
            end(out, 10, "GcpAssetSourceSimple");
            start(out, 10, "AssetSource");
            end(out, 10, "AssetSource");
        }
        Cloud::None => {}
    }
    end(out, 8, "list");
    end(out, 6, "sourceInfo");
}
