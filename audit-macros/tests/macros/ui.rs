//! Compile-time behaviour: each misuse is one clear, spanned error (`ui/fail`), and shapes that
//! cannot live in the other tests compile and run (`ui/pass`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
