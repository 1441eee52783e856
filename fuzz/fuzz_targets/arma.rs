//! Arma 3 / DayZ binary rules from arbitrary bytes: as a message, and cut into chunks
//! in a scrambled order with some missing or repeated. Never a panic; whatever decodes
//! re-encodes to chunks that decode to the same value.
#![no_main]

use a2s_query::proto::ArmaRules;
use a2s_query::{Encoding, Raw, Rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, seed, rest @ ..] = data else { return };
    // As an unescaped message.
    if let Ok(a) = ArmaRules::<Vec<u8>>::from_message(rest, Raw) {
        check(&a);
    }
    let _ = ArmaRules::<String>::from_message(rest, Encoding::Utf8Strict);
    // As chunks: the bytes escaped (or taken as they are) and cut into values.
    let mut escaped = Vec::new();
    if mode & 1 == 0 {
        escape(rest, &mut escaped);
    } else {
        escaped.extend(rest.iter().map(|&b| if b == 0 { 1 } else { b }));
    }
    let size = 1 + usize::from(*seed % 127);
    let chunks: Vec<&[u8]> = escaped.chunks(size).collect();
    let total = u8::try_from(chunks.len()).unwrap_or(u8::MAX).max(1);
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> =
        chunks.iter().take(255).enumerate().map(|(i, c)| (vec![i as u8 + 1, total], c.to_vec())).collect();
    if mode & 2 != 0 && pairs.len() > 1 {
        let by = usize::from(*seed) % pairs.len();
        pairs.rotate_left(by);
    }
    if mode & 4 != 0 && !pairs.is_empty() {
        let at = usize::from(*seed) % pairs.len();
        pairs.remove(at);
    }
    if mode & 8 != 0 && !pairs.is_empty() {
        let again = pairs[usize::from(*seed) % pairs.len()].clone();
        pairs.push(again);
    }
    if mode & 16 != 0 {
        pairs.push((b"island".to_vec(), b"enoch".to_vec()));
    }
    let rules: Rules<Vec<u8>> = pairs.into_iter().collect();
    if let Ok(a) = ArmaRules::decode(&rules, Raw) {
        check(&a);
    }
});

/// The chunks' escaping, as the format describes it: `01` → `01 01`, `00` → `01 02`,
/// `FF` → `01 03`.
fn escape(message: &[u8], out: &mut Vec<u8>) {
    for &b in message {
        match b {
            0x01 => out.extend([0x01, 0x01]),
            0x00 => out.extend([0x01, 0x02]),
            0xFF => out.extend([0x01, 0x03]),
            other => out.push(other),
        }
    }
}

/// What decoded re-encodes, and decodes back to itself.
fn check(a: &ArmaRules<Vec<u8>>) {
    let Ok(rules) = a.to_rules() else { return };
    let rules: Rules<Vec<u8>> = rules.into_iter().collect();
    let back = ArmaRules::decode(&rules, Raw).expect("re-encoded rules decode");
    assert_eq!(&back, a);
}
