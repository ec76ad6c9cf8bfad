use audit_core::audited;

#[audited("A", entity_id = |ok| ok.id)]
fn returns_nothing() {}

#[audited("A", entity_id = |ok| ok)]
async fn async_returns_unit() -> () {}

#[audited("A", entity_id = |a, b| a + b)]
fn two_arguments() -> u32 {
    1
}

fn main() {
    returns_nothing();
    let _ = async_returns_unit();
    two_arguments();
}
