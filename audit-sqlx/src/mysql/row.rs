//! Events table columns to and from MySQL values: IPs as their network-order bytes (4 for
//! IPv4, 16 for IPv6, so byte order is address order and a CIDR block is one byte range).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use audit_core::chain::ChainHash;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use sqlx_core::arguments::Arguments;
use sqlx_core::error::BoxDynError;
use sqlx_mysql::{MySql, MySqlArguments, MySqlRow};
use uuid::Uuid;

use crate::fields::{ColumnSink, RowCodec, column};

/// A time as a `DATETIME` parameter. Not `DateTime<Utc>` itself: the driver sends that as a
/// `TIMESTAMP`, which the server turns into NULL before 1970 (measured).
pub(crate) fn datetime(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc()
}

/// The stored form of an address.
pub(crate) fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(format!("ip has {} bytes, not 4 or 16", bytes.len()))
    }
}

impl RowCodec for MySqlRow {
    fn seq_at(&self, i: usize) -> Result<u64, String> {
        column(self, i)
    }

    fn ip_at(&self, i: usize) -> Result<Option<IpAddr>, String> {
        column::<_, Option<Vec<u8>>>(self, i)?
            .map(|b| ip_from_bytes(&b))
            .transpose()
    }

    fn json_at(&self, i: usize) -> Result<Value, String> {
        let text: String = column(self, i)?;
        serde_json::from_str(&text).map_err(|err| err.to_string())
    }
}

/// Binds a row's fields as the parameters of a multi-row `INSERT`.
#[derive(Default)]
pub(crate) struct Binder {
    pub args: MySqlArguments,
    /// The first value that could not be encoded (none of ours fails; kept, not unwrapped).
    pub error: Option<BoxDynError>,
}

impl Binder {
    fn add<'q, T>(&mut self, value: T)
    where
        T: sqlx_core::encode::Encode<'q, MySql> + sqlx_core::types::Type<MySql> + 'q,
    {
        if let Err(err) = self.args.add(value) {
            self.error.get_or_insert(err);
        }
    }
}

impl ColumnSink for Binder {
    fn seq(&mut self, seq: u64) {
        self.add(seq);
    }

    fn id(&mut self, id: &Uuid) {
        self.add(*id);
    }

    fn time(&mut self, at: &DateTime<Utc>) {
        self.add(datetime(*at));
    }

    fn text(&mut self, text: Option<&str>) {
        self.add(text);
    }

    fn ip(&mut self, ip: Option<IpAddr>) {
        self.add(ip.map(ip_bytes));
    }

    fn json(&mut self, json: &str) {
        self.add(json);
    }

    fn hash(&mut self, hash: &ChainHash) {
        self.add(hash.as_bytes().as_slice());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_their_bytes() {
        for ip in ["10.1.2.3", "::", "2001:db8::1", "::ffff:10.9.9.9"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_from_bytes(&ip_bytes(ip)), Ok(ip));
        }
    }

    #[test]
    fn byte_order_is_address_order() {
        let a = ip_bytes("10.0.0.255".parse().unwrap());
        let b = ip_bytes("10.0.1.0".parse().unwrap());
        assert!(a < b);
    }

    #[test]
    fn a_stored_ip_of_another_size_is_an_error() {
        assert!(ip_from_bytes(&[1, 2, 3]).is_err());
    }
}
