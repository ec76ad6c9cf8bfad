use audit_core::audited;

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

#[audited("A", outcome = maybe)]
fn unknown_outcome() -> Result<(), Failed> {
    Ok(())
}

#[audited("A", reason = "refused")]
fn reason_not_a_closure() -> Result<(), Failed> {
    Ok(())
}

#[audited("A", outcome = |e| e, reason = |_| "x")]
fn on_unit() {}

#[audited("A", reason = |a, b| a)]
fn two_parameters() -> Result<(), Failed> {
    Ok(())
}

#[audited("A", entity_id = |a| a, entity_id = |b| b)]
fn two_entity_closures() -> Result<u32, Failed> {
    Ok(1)
}

#[audited("A", outcome = |_| "denied")]
fn outcome_of_the_wrong_type() -> Result<(), Failed> {
    Ok(())
}

fn main() {
    let _ = unknown_outcome();
    let _ = reason_not_a_closure();
    on_unit();
    let _ = two_parameters();
    let _ = two_entity_closures();
    let _ = outcome_of_the_wrong_type();
}
