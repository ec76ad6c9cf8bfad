use audit_core::audited;

#[audited]
fn no_arguments() {}

#[audited(entity_type = "booking")]
fn options_only() {}

fn main() {
    no_arguments();
    options_only();
}
