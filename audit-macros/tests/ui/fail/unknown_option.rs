use audit_core::audited;

#[audited("A", entity = "booking")]
fn misspelled() {}

#[audited("A", category = finance)]
fn unknown_category() {}

#[audited("A", severity = loud)]
fn unknown_severity() {}

fn main() {
    misspelled();
    unknown_category();
    unknown_severity();
}
