use audit_core::audited;

#[audited("A", entity_type = "a", entity_type = "b")]
fn twice() {}

#[audited("A", metadata(k = 1), metadata(j = 2))]
fn metadata_twice() {}

#[audited("A", metadata(k = 1, k = 2))]
fn same_key_twice() {}

fn main() {
    twice();
    metadata_twice();
    same_key_twice();
}
