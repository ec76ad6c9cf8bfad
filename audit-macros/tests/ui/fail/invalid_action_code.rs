use audit_core::audited;

#[audited("drop table;")]
fn with_spaces() {}

#[audited("1ABC")]
fn starts_with_a_digit() {}

#[audited("")]
fn empty() {}

#[audited("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
fn too_long() {}

fn main() {
    with_spaces();
    starts_with_a_digit();
    empty();
    too_long();
}
