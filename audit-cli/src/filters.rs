//! The query filters every reading command takes, turned into an [`AuditQuery`].

use audit_core::query::AuditQuery;
use audit_core::{Category, Outcome};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use ipnet::IpNet;

/// Every filter of [`AuditQuery`]; all given filters must match.
#[derive(Debug, Clone, Default, Args)]
pub struct Filters {
    /// Only events by this actor id.
    #[arg(long, help_heading = "Filters")]
    pub actor: Option<String>,
    /// Only events with exactly this action code.
    #[arg(long, conflicts_with = "action_prefix", help_heading = "Filters")]
    pub action: Option<String>,
    /// Only events whose action code starts with this (`AUTHN_`).
    #[arg(long, value_name = "PREFIX", help_heading = "Filters")]
    pub action_prefix: Option<String>,
    /// Only events of this category.
    #[arg(long, value_enum, help_heading = "Filters")]
    pub category: Option<CategoryArg>,
    /// Only events with this outcome.
    #[arg(long, value_enum, help_heading = "Filters")]
    pub outcome: Option<OutcomeArg>,
    /// Only events about this entity type.
    #[arg(long, help_heading = "Filters")]
    pub entity_type: Option<String>,
    /// Only events about this entity id.
    #[arg(long, help_heading = "Filters")]
    pub entity_id: Option<String>,
    /// Only events at or after this time (`YYYY-MM-DD` is midnight UTC, or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Filters")]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (`YYYY-MM-DD` is midnight UTC, or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Filters")]
    pub until: Option<DateTime<Utc>>,
    /// Only events from this IP address or network (`10.0.0.0/8`, `2001:db8::1`).
    #[arg(long, value_name = "CIDR", value_parser = parse_net, help_heading = "Filters")]
    pub ip: Option<IpNet>,
    /// Only events of this request id.
    #[arg(long, help_heading = "Filters")]
    pub request_id: Option<String>,
    /// Only events of this tenant.
    #[arg(long, help_heading = "Filters")]
    pub tenant: Option<String>,
    /// Only events whose description contains this text.
    #[arg(long, value_name = "TEXT", help_heading = "Filters")]
    pub contains: Option<String>,
    /// Only events whose change set lists this field (a JSON pointer such as /email) as
    /// added, removed or changed.
    #[arg(long, value_name = "PATH", help_heading = "Filters")]
    pub changed: Option<String>,
}

/// [`Category`] as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CategoryArg {
    /// Logins, logouts, credentials.
    Authentication,
    /// Permission checks.
    Authorization,
    /// The application's own actions.
    Business,
    /// The audit system and infrastructure.
    System,
    /// Reads of sensitive records.
    Access,
}

/// [`Outcome`] as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    /// It worked.
    Success,
    /// It failed.
    Failure,
    /// Access was refused.
    Denied,
}

impl Filters {
    /// The query these filters describe (newest first, default page size).
    pub fn query(&self) -> AuditQuery {
        let mut q = AuditQuery::new();
        q.actor = self.actor.clone();
        if let Some(code) = &self.action {
            q = q.action(code.clone());
        }
        if let Some(prefix) = &self.action_prefix {
            q = q.action_prefix(prefix.clone());
        }
        q.category = self.category.map(|c| match c {
            CategoryArg::Authentication => Category::Authentication,
            CategoryArg::Authorization => Category::Authorization,
            CategoryArg::Business => Category::Business,
            CategoryArg::System => Category::System,
            CategoryArg::Access => Category::Access,
        });
        q.outcome = self.outcome.map(|o| match o {
            OutcomeArg::Success => Outcome::Success,
            OutcomeArg::Failure => Outcome::Failure,
            OutcomeArg::Denied => Outcome::Denied,
        });
        q.entity_type = self.entity_type.clone();
        q.entity_id = self.entity_id.clone();
        q.since = self.since;
        q.until = self.until;
        q.ip_net = self.ip;
        q.request_id = self.request_id.clone();
        q.tenant = self.tenant.clone();
        q.description_contains = self.contains.clone();
        q.changed = self.changed.clone();
        q
    }
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{text:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

/// A network (`10.0.0.0/8`) or a single address (`10.1.2.3`, as a /32 or /128).
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or network"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_midnight_utc() {
        assert_eq!(
            parse_time("2026-11-01").unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
    }

    #[test]
    fn an_rfc3339_time_keeps_its_offset() {
        assert_eq!(
            parse_time("2026-11-01T10:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-01T08:00:00+00:00"
        );
    }

    #[test]
    fn a_single_address_is_a_host_network() {
        assert_eq!(parse_net("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net("ten").is_err());
    }
}
