use audit_core::audited;

const CODE: &str = "FTMS_BOOKING_CREATED";

#[audited(CODE)]
fn from_a_constant() {}

#[audited(42)]
fn from_a_number() {}

fn main() {
    from_a_constant();
    from_a_number();
}
