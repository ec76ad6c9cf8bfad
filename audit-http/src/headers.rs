//! Plain header values: what the rules of this crate read from a request, whatever the
//! framework and whatever its `http` crate version.

/// A request's headers, as the rules of this crate read them.
///
/// Implemented for slices and vectors of `(name, value)` pairs (names compared ignoring ASCII
/// case). A framework integration implements it over its own header map with a newtype, in a
/// few lines:
///
/// ```
/// use audit_http::Headers;
///
/// /// The header map of some framework (here: a plain list).
/// struct TheirHeaderMap(Vec<(String, Vec<u8>)>);
///
/// struct Adapter<'a>(&'a TheirHeaderMap);
///
/// impl Headers for Adapter<'_> {
///     fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
///         self.0.0.iter()
///             .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
///             .map(|(_, v)| v.as_slice())
///     }
/// }
///
/// let map = TheirHeaderMap(vec![("User-Agent".into(), b"curl/8".to_vec())]);
/// assert_eq!(Adapter(&map).first("user-agent"), Some(&b"curl/8"[..]));
/// ```
pub trait Headers {
    /// Every value of the header `name` (given in lowercase), one per header line, in the
    /// order the request carried them.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// The first value of the header `name`, if any.
    fn first<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.values(name).next()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for [(N, V)] {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(N, V)> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.as_slice().values(name)
    }
}

impl<H: Headers + ?Sized> Headers for &H {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        (**self).values(name)
    }
}
