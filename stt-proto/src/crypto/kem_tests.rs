//! ML-KEM-768 backends: FIPS 203 known answers from NIST's ACVP vectors
//! (`testdata/mlkem768_kat.txt`) for each backend, and byte-identical results across them.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::kem::{self, KEM_SEED_LEN, Kem, KemDecapsKey, MLKEM768_CT_LEN, MLKEM768_EK_LEN};
use crate::hash::sha3_256;

const KAT: &str = include_str!("testdata/mlkem768_kat.txt");

/// The `key = hex` lines of the KAT file, in order, as (key, bytes).
fn kat_lines() -> Vec<(&'static str, Vec<u8>)> {
    KAT.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k, hex::decode(v).expect("KAT hex")))
        .collect()
}

fn get<'a>(lines: &'a [(&'static str, Vec<u8>)], key: &str, nth: usize) -> &'a [u8] {
    &lines
        .iter()
        .filter(|(k, _)| *k == key)
        .nth(nth)
        .expect("KAT entry")
        .1
}

fn backends() -> Vec<&'static dyn Kem> {
    #[allow(unused_mut)] // aws-lc adds itself
    let mut v: Vec<&'static dyn Kem> = alloc::vec![&kem::RUST_CRYPTO_KEM, &super::LIBCRUX_KEM];
    #[cfg(feature = "aws-lc")]
    v.push(&super::aws_lc::AWS_LC_KEM);
    v
}

#[test]
fn keygen_known_answers_each_backend() {
    let lines = kat_lines();
    for backend in backends() {
        for case in 0..2 {
            let mut seed = [0u8; KEM_SEED_LEN];
            seed[..32].copy_from_slice(get(&lines, "d", case));
            seed[32..].copy_from_slice(get(&lines, "z", case));
            let dk = backend.generate(&seed).expect("keygen");
            assert_eq!(
                &sha3_256(dk.encapsulation_key())[..],
                get(&lines, "ek_sha3", case),
                "{} keygen case {case}: ek",
                backend.name()
            );
            // The decapsulation key too, as the ACVP expanded encoding.
            let rc = kem::RcDecapsKey::from_seed(&seed).expect("keygen");
            #[allow(deprecated)]
            let expanded = ml_kem::ExpandedKeyEncoding::to_expanded_bytes(&rc.dk);
            assert_eq!(
                &sha3_256(expanded.as_slice())[..],
                get(&lines, "dk_sha3", case)
            );
            let lx = super::libcrux::LibcruxDecapsKey::from_seed(&seed);
            assert_eq!(
                &sha3_256(lx.private_bytes())[..],
                get(&lines, "dk_sha3", case),
                "libcrux keygen case {case}: dk"
            );
        }
    }
}

#[test]
fn encaps_known_answer_each_backend() {
    let lines = kat_lines();
    let ek: [u8; MLKEM768_EK_LEN] = get(&lines, "ek", 0).try_into().expect("ek length");
    let m: [u8; 32] = get(&lines, "m", 0).try_into().expect("m length");
    for backend in backends() {
        let mut ct = [0u8; MLKEM768_CT_LEN];
        let k = backend.encapsulate(&ek, &m, &mut ct).expect("encaps");
        assert_eq!(
            &sha3_256(&ct)[..],
            get(&lines, "c_sha3", 0),
            "{}",
            backend.name()
        );
        assert_eq!(&k[..], get(&lines, "k", 0), "{}", backend.name());
    }
}

/// One backend's decapsulation of the ACVP key.
type Decaps = Box<dyn Fn(&[u8; MLKEM768_CT_LEN]) -> [u8; 32]>;

/// The ACVP decapsulation group: one expanded key, a genuine ciphertext and a modified one
/// (implicit rejection, FIPS 203 §6.3), opened by every backend's decapsulation.
#[test]
fn decaps_known_answers_each_backend() {
    let lines = kat_lines();
    let dk_bytes = get(&lines, "dk", 0);
    #[allow(deprecated)]
    let rc = <ml_kem::DecapsulationKey<ml_kem::MlKem768> as ml_kem::ExpandedKeyEncoding>::from_expanded_bytes(
        &dk_bytes.try_into().expect("dk length"),
    )
    .expect("ACVP key");
    let mut keys: Vec<(&str, Decaps)> = Vec::new();
    keys.push((
        "rustcrypto",
        Box::new(move |ct| {
            let c = ml_kem::array::Array::try_from(&ct[..]).expect("ct");
            let k = ml_kem::kem::Decapsulate::decapsulate(&rc, &c);
            k.as_slice().try_into().expect("32")
        }),
    ));
    let lx = libcrux_ml_kem::mlkem768::MlKem768PrivateKey::try_from(dk_bytes).expect("dk length");
    keys.push((
        "libcrux",
        Box::new(move |ct| {
            libcrux_ml_kem::mlkem768::decapsulate(
                &lx,
                &libcrux_ml_kem::mlkem768::MlKem768Ciphertext::from(ct),
            )
        }),
    ));
    #[cfg(feature = "aws-lc")]
    {
        let lc = aws_lc_rs::kem::DecapsulationKey::new(&aws_lc_rs::kem::ML_KEM_768, dk_bytes)
            .expect("aws-lc key");
        keys.push((
            "aws-lc",
            Box::new(move |ct| {
                let k = lc
                    .decapsulate(aws_lc_rs::kem::Ciphertext::from(&ct[..]))
                    .expect("decaps");
                k.as_ref().try_into().expect("32")
            }),
        ));
    }
    for (name, decaps) in &keys {
        for case in 0..2 {
            let ct: [u8; MLKEM768_CT_LEN] = get(&lines, "c", case).try_into().expect("ct");
            // Two "k" entries precede these: the encapsulation case's.
            assert_eq!(
                &decaps(&ct)[..],
                get(&lines, "k", 1 + case),
                "{name} case {case}"
            );
        }
    }
}

/// Same seed → same encapsulation key; a ciphertext made by one backend opens to the
/// same secret in every other; aws-lc's own (randomised) encapsulation opens in ours.
#[test]
fn backends_are_byte_identical() {
    let all = backends();
    let seed = [7u8; KEM_SEED_LEN];
    let keys: Vec<Box<dyn KemDecapsKey>> = all.iter().map(|b| b.generate(&seed).unwrap()).collect();
    for k in &keys {
        assert_eq!(k.encapsulation_key(), keys[0].encapsulation_key());
    }
    for (i, enc) in all.iter().enumerate() {
        let m = [i as u8 + 1; 32];
        let mut ct = [0u8; MLKEM768_CT_LEN];
        let k = enc
            .encapsulate(keys[0].encapsulation_key(), &m, &mut ct)
            .unwrap();
        for dk in &keys {
            assert_eq!(
                *dk.decapsulate(&ct).unwrap(),
                *k,
                "{} → {}",
                enc.name(),
                dk.backend()
            );
        }
    }
    #[cfg(feature = "aws-lc")]
    {
        let ek = aws_lc_rs::kem::EncapsulationKey::new(
            &aws_lc_rs::kem::ML_KEM_768,
            keys[0].encapsulation_key(),
        )
        .unwrap();
        let (ct, ss) = ek.encapsulate().unwrap();
        let ct: [u8; MLKEM768_CT_LEN] = ct.as_ref().try_into().unwrap();
        for dk in &keys {
            assert_eq!(&dk.decapsulate(&ct).unwrap()[..], ss.as_ref());
        }
    }
}

/// A flipped bit in the ciphertext gives another secret (implicit rejection), never the
/// genuine one and never a panic.
#[test]
fn flipped_ciphertext_bit_changes_the_secret() {
    for backend in backends() {
        let dk = backend.generate(&[3u8; KEM_SEED_LEN]).unwrap();
        let mut ct = [0u8; MLKEM768_CT_LEN];
        let k = backend
            .encapsulate(dk.encapsulation_key(), &[9u8; 32], &mut ct)
            .unwrap();
        ct[500] ^= 0x10;
        assert_ne!(*dk.decapsulate(&ct).unwrap(), *k, "{}", backend.name());
    }
}

/// An encapsulation key with a coefficient ≥ q is refused (FIPS 203 §7.2), typed.
#[test]
fn invalid_encapsulation_key_is_refused() {
    let ek = [0xffu8; MLKEM768_EK_LEN];
    for backend in backends() {
        let mut ct = [0u8; MLKEM768_CT_LEN];
        assert_eq!(
            backend.encapsulate(&ek, &[1u8; 32], &mut ct).err(),
            Some(kem::KemError::InvalidKey),
            "{}",
            backend.name()
        );
    }
}
