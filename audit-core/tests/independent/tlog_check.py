#!/usr/bin/env python3
"""An independent check of the tree, its proofs and its signed checkpoint.

Written from RFC 6962 / RFC 9162 (section 2.1) and the C2SP tlog-checkpoint and signed-note
specifications, with hashlib and the `cryptography` package only: no code shared with the
Rust implementation. Reads a vector file (tests/vectors/tlog_v1.json, or one a test wrote)
and exits non-zero, naming the first disagreement, if anything does not verify.

    python3 tlog_check.py tests/vectors/tlog_v1.json
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    """RFC 6962 2.1: the Merkle tree hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2."""
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def verify_checkpoint(note: str, vkey: str):
    """C2SP signed-note with an Ed25519 key; returns (origin, size, root)."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 1 and len(key) == 33, "not an Ed25519 verifier key"
    expected_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    assert expected_id.hex() == key_id_hex, "verifier key id does not match"
    text, sep, sigs = note.rpartition("\n\n")
    assert sep, "no blank line before the signatures"
    text += "\n"
    public = Ed25519PublicKey.from_public_bytes(key[1:])
    verified = False
    for line in sigs.rstrip("\n").split("\n"):
        assert line.startswith("\u2014 "), "signature line without em dash"
        sig_name, sig_b64 = line[2:].split(" ", 1)
        raw = base64.b64decode(sig_b64)
        if sig_name == name and raw[:4] == expected_id:
            public.verify(raw[4:], text.encode())  # raises InvalidSignature
            verified = True
    assert verified, "no signature by the verifier key"
    origin, size, root_b64 = text.split("\n")[:3]
    assert origin == name, "origin is not the key name"
    return origin, int(size), base64.b64decode(root_b64)


def main(path):
    f = json.load(open(path))
    leaves = []
    for i, leaf in enumerate(f["leaves"]):
        assert leaf["seq"] == i + 1
        h = leaf_hash(bytes.fromhex(leaf["entry_hex"]))
        assert h.hex() == leaf["leaf_hash"], f"leaf {leaf['seq']}"
        leaves.append(h)
    roots = {}
    for r in f["roots"]:
        got = mth(leaves[: r["size"]])
        assert got.hex() == r["root"], f"root of size {r['size']}"
        roots[r["size"]] = got
    for p in f["inclusion"]:
        seq, size = p["seq"], p["tree_size"]
        proof = [bytes.fromhex(h) for h in p["hashes"]]
        assert verify_inclusion(seq - 1, size, leaves[seq - 1], proof, roots[size]), \
            f"inclusion of {seq} in {size}"
        # The proof must not verify for another leaf.
        other = leaves[seq % size] if size > 1 else leaf_hash(b"forged")
        assert not verify_inclusion(seq - 1, size, other if other != leaves[seq - 1]
                                    else leaf_hash(b"x"), proof, roots[size])
    for p in f["consistency"]:
        old, new = p["old_size"], p["new_size"]
        proof = [bytes.fromhex(h) for h in p["hashes"]]
        assert verify_consistency(old, new, roots[old], roots[new], proof), \
            f"consistency {old} -> {new}"
        if 0 < old < new:
            assert not verify_consistency(old, new, leaf_hash(b"x"), roots[new], proof)
    cp = f["checkpoint"]
    origin, size, root = verify_checkpoint(cp["note"], cp["verifying_key"])
    assert root == roots[size], "checkpoint root"
    tampered = cp["note"].replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    try:
        verify_checkpoint(tampered, cp["verifying_key"])
        raise AssertionError("a changed checkpoint verified")
    except Exception as e:  # InvalidSignature
        if isinstance(e, AssertionError):
            raise
    print(f"independent check: {len(leaves)} leaves, {len(f['roots'])} roots, "
          f"{len(f['inclusion'])} inclusion and {len(f['consistency'])} consistency proofs, "
          f"checkpoint of {origin} at {size}: all verify")


if __name__ == "__main__":
    main(sys.argv[1])
