//! `POST /api/2.0/fo/knowledge_base/vuln/?action=list`: vulnerabilities by QID; unknown QIDs
//! are left out silently.

use std::sync::Arc;

use super::{
    Ctx, close_v2_report, elem_cdata, elem_tenths, elem_text, elem_time, elem_u64, end,
    open_v2_report, push, push_u64, start,
};
use crate::model::kb::Vuln;
use crate::model::{Subscription, normalize_ranges};
use crate::params::{ParamError, Params};
use crate::stream::Producer;

const ROOT: &str = "KNOWLEDGE_BASE_VULN_LIST_OUTPUT";

pub(crate) fn vuln_list(
    sub: Arc<Subscription>,
    ctx: Ctx,
    params: Params,
) -> Result<Producer, ParamError> {
    params.require_action_list()?;
    let id_min = params.u64("id_min")?.unwrap_or(0);
    let id_max = params.u64("id_max")?.unwrap_or(u64::MAX);
    let ranges = params
        .ids("ids")?
        .map_or_else(|| vec![(0, u64::MAX)], normalize_ranges);
    Ok(Box::new(move |sink| {
        let out = sink.out();
        open_v2_report(
            out,
            &ctx.base_url,
            ROOT,
            "/api/2.0/fo/knowledge_base/vuln/knowledge_base_vuln_list_output.dtd",
            ctx.now_secs,
        );
        // Qualys sends keep-alive comments while it prepares a long list.
        push(
            out,
            "\n<!-- keep-alive for KNOWLEDGE_BASE_VULN_LIST_OUTPUT -->",
        );
        let mut count = 0u64;
        for (lo, hi) in ranges {
            let (lo, hi) = (lo.max(id_min), hi.min(id_max));
            let mut index = Vuln::first_index_at_or_above(&sub, lo);
            while index < sub.config.knowledge_base_vulns {
                let vuln = Vuln::new(&sub, index);
                if vuln.qid > hi {
                    break;
                }
                if count == 0 {
                    start(sink.out(), 4, "VULN_LIST");
                }
                write_vuln(&sub, sink.out(), &vuln);
                count += 1;
                index += 1;
                sink.boundary()?;
            }
        }
        let out = sink.out();
        if count > 0 {
            end(out, 4, "VULN_LIST");
        }
        close_v2_report(out, ROOT, true);
        Ok(())
    }))
}

fn write_vuln(sub: &Subscription, out: &mut Vec<u8>, vuln: &Vuln) {
    start(out, 6, "VULN");
    elem_u64(out, 8, "QID", vuln.qid);
    elem_text(out, 8, "VULN_TYPE", vuln.vuln_type);
    elem_u64(out, 8, "SEVERITY_LEVEL", u64::from(vuln.severity));
    elem_cdata(out, 8, "TITLE", &vuln.title());
    elem_text(out, 8, "CATEGORY", vuln.category);
    elem_time(
        out,
        8,
        "LAST_SERVICE_MODIFICATION_DATETIME",
        vuln.modified_secs(sub),
    );
    elem_time(out, 8, "PUBLISHED_DATETIME", vuln.published_secs(sub));
    elem_u64(out, 8, "PATCHABLE", u64::from(vuln.patchable()));

    let (product, vendor) = vuln.product();
    start(out, 8, "SOFTWARE_LIST");
    start(out, 10, "SOFTWARE");
    elem_cdata(out, 12, "PRODUCT", product);
    elem_cdata(out, 12, "VENDOR", vendor);
    end(out, 10, "SOFTWARE");
    end(out, 8, "SOFTWARE_LIST");

    if vuln.cve_count > 0 {
        start(out, 8, "CVE_LIST");
        for n in 0..vuln.cve_count {
            let cve = vuln.cve(sub, n);
            start(out, 10, "CVE");
            elem_cdata(out, 12, "ID", &cve);
            elem_cdata(
                out,
                12,
                "URL",
                &format!("https://cve.mitre.org/cgi-bin/cvename.cgi?name={cve}"),
            );
            end(out, 10, "CVE");
        }
        end(out, 8, "CVE_LIST");
    }

    elem_cdata(
        out,
        8,
        "DIAGNOSIS",
        &format!(
            "<P>{} is affected by the issue described in QID {}.</P>",
            product, vuln.qid
        ),
    );
    elem_cdata(
        out,
        8,
        "CONSEQUENCE",
        "<P>Successful exploitation may compromise the host.</P>",
    );
    elem_cdata(
        out,
        8,
        "SOLUTION",
        "<P>Apply the vendor&apos;s latest update.</P>",
    );
    elem_u64(out, 8, "PCI_FLAG", u64::from(vuln.severity >= 4));

    let mut intel = vuln.threat_intel().peekable();
    if intel.peek().is_some() {
        start(out, 8, "THREAT_INTELLIGENCE");
        for (id, name) in intel {
            push(out, "\n          <THREAT_INTEL id=\"");
            push_u64(out, u64::from(id));
            push(out, "\"><![CDATA[");
            push(out, name);
            push(out, "]]></THREAT_INTEL>");
        }
        end(out, 8, "THREAT_INTELLIGENCE");
    }

    if let Some((base, temporal)) = vuln.cvss_v2() {
        start(out, 8, "CVSS");
        elem_tenths(out, 10, "BASE", base);
        elem_tenths(out, 10, "TEMPORAL", temporal);
        end(out, 8, "CVSS");
    }
    if let Some((base, temporal)) = vuln.cvss_v3() {
        start(out, 8, "CVSS_V3");
        elem_tenths(out, 10, "BASE", base);
        elem_tenths(out, 10, "TEMPORAL", temporal);
        end(out, 8, "CVSS_V3");
    }

    start(out, 8, "DISCOVERY");
    elem_u64(out, 10, "REMOTE", u64::from(!vuln.index.is_multiple_of(3)));
    end(out, 8, "DISCOVERY");
    end(out, 6, "VULN");
}
