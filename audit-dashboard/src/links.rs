//! URLs of the dashboard's pages, relative to wherever the host mounted it.
//!
//! Every link starts with the mount path and carries its parameters URL-encoded, so no
//! event value can ever become a link's scheme or host (`javascript:` stays a parameter).

use crate::filter::Filter;

/// Builds links under one mount path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Links {
    base: String,
}

fn encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

impl Links {
    /// Links under `base` (the mount path, without a trailing slash; empty at the root).
    pub(crate) fn new(base: &str) -> Self {
        // A path starting with `//` would be read by browsers as another host.
        let base = format!("/{}", base.trim_start_matches('/'));
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The mount path from the request's full path and the path the dashboard saw.
    pub(crate) fn from_paths(original: &str, nested: &str) -> Self {
        let base = original.strip_suffix(nested).unwrap_or(original);
        Self::new(if nested == "/" { original } else { base })
    }

    #[cfg(test)]
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn path(&self, page: &str) -> String {
        format!("{}{page}", self.base)
    }

    pub(crate) fn overview(&self) -> String {
        self.path("/")
    }

    pub(crate) fn overview_range(&self, range: &str) -> String {
        with_query(self.path("/"), &encode(&[("range", range)]))
    }

    pub(crate) fn events(&self, filter: &Filter) -> String {
        with_query(self.path("/events"), &filter.query_string())
    }

    pub(crate) fn event(&self, seq: u64) -> String {
        self.path(&format!("/events/{seq}"))
    }

    pub(crate) fn actor(&self, id: &str) -> String {
        with_query(self.path("/actor"), &encode(&[("id", id)]))
    }

    pub(crate) fn entity(&self, entity_type: &str, id: &str) -> String {
        with_query(
            self.path("/entity"),
            &encode(&[("type", entity_type), ("id", id)]),
        )
    }

    pub(crate) fn live(&self) -> String {
        self.path("/live")
    }

    pub(crate) fn live_feed(&self) -> String {
        self.path("/live/feed")
    }

    pub(crate) fn verify(&self) -> String {
        self.path("/verify")
    }

    pub(crate) fn path_run(&self) -> String {
        self.path("/verify/run")
    }

    pub(crate) fn verify_status(&self) -> String {
        self.path("/verify/status")
    }

    pub(crate) fn export(&self, filter: &Filter, extension: &str) -> String {
        let mut query = encode(&[("format", extension)]);
        let rest = filter.without_position().query_string();
        if !rest.is_empty() {
            query = format!("{query}&{rest}");
        }
        with_query(self.path("/export"), &query)
    }

    pub(crate) fn asset(&self, name: &str) -> String {
        with_query(
            self.path(&format!("/static/{name}")),
            &encode(&[("v", crate::assets::VERSION)]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_path_is_what_the_nesting_stripped() {
        assert_eq!(
            Links::from_paths("/admin/audit/events", "/events").base(),
            "/admin/audit"
        );
        assert_eq!(
            Links::from_paths("/admin/audit", "/").base(),
            "/admin/audit"
        );
        assert_eq!(
            Links::from_paths("/admin/audit/", "/").base(),
            "/admin/audit"
        );
        assert_eq!(Links::from_paths("/events", "/events").base(), "");
    }

    #[test]
    fn a_doubled_leading_slash_never_makes_a_host_relative_link() {
        let links = Links::new("//evil.example/x");
        assert!(links.overview().starts_with("/evil.example"));
        assert!(!links.overview().starts_with("//"));
    }

    #[test]
    fn hostile_values_stay_parameters() {
        let links = Links::new("/a");
        assert_eq!(
            links.entity("booking", "javascript:alert(1)"),
            "/a/entity?type=booking&id=javascript%3Aalert%281%29"
        );
        assert_eq!(links.actor("x&y=<z>"), "/a/actor?id=x%26y%3D%3Cz%3E");
    }
}
