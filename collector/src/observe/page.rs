//! The status page (`GET /`): one self-contained HTML document, its CSS and script inlined
//! at build time from the files beside this module (no CDN: it works with no internet). The
//! script reads `/v1/status` and `/v1/history?since=1h`, draws every service (state, a chart
//! of the last hour, health check, failing routes, incident, alerts) and redraws every 5 s.

const HTML: &str = include_str!("page/index.html");
const CSS: &str = include_str!("page/page.css");
const JS: &str = include_str!("page/page.js");

/// The page, with its style and script inlined.
pub fn page() -> String {
    HTML.replacen("/*STYLE*/", CSS, 1).replacen("/*SCRIPT*/", JS, 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_is_self_contained() {
        let p = super::page();
        assert!(!p.contains("/*STYLE*/") && !p.contains("/*SCRIPT*/"));
        assert!(p.contains("/v1/status") && p.contains("/v1/history"));
        for external in ["http://", "https://", "src=", "<link", "@import"] {
            assert!(!p.contains(external), "the page must not load {external}");
        }
    }
}
