use audit_core::audited;

#[audited("PROFILE_UPDATED", before = name)]
fn rename(name: &str) -> String {
    name.to_uppercase()
}

fn main() {}
