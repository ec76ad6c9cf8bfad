//! Other attributes, visibility, `extern "C"`, `impl Trait` and `where` clauses survive.
use audit_core::testing::capture;
use audit_core::audited;

pub mod api {
    use super::audited;

    /// Documented.
    #[must_use]
    #[inline]
    #[audited("PUB_FN")]
    pub fn public<T>(value: T) -> impl std::fmt::Debug
    where
        T: std::fmt::Debug + Clone,
    {
        value.clone()
    }

    #[audited("EXTERN_C")]
    pub extern "C" fn callback(x: i32) -> i32 {
        x + 1
    }
}

fn main() {
    let (value, captured) = capture(|| format!("{:?}", api::public("x")));
    assert_eq!(value, "\"x\"");
    assert_eq!(captured.single().action, "PUB_FN");
    let (value, captured) = capture(|| api::callback(1));
    assert_eq!(value, 2);
    assert_eq!(captured.single().action, "EXTERN_C");
}
