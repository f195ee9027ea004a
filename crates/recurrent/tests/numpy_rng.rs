//! The numpy-compatible generator against values numpy itself printed
//! (scripts/numpy_rng_reference.py → tests/fixtures/numpy_rng_reference.txt), bit for bit.

use recurrent::NumpyRng;

#[test]
fn matches_numpy_bit_for_bit() {
    let text = include_str!("fixtures/numpy_rng_reference.txt");
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (head, vals) = line.split_once(" : ").expect("SEED FN SHAPE : VALUES");
        let mut h = head.split_whitespace();
        let seed: u32 = h.next().unwrap().parse().unwrap();
        let func = h.next().unwrap();
        let shape: Vec<usize> = h.map(|d| d.parse().unwrap()).collect();
        let want: Vec<f64> = vals.split_whitespace().map(|v| v.parse().unwrap()).collect();
        let mut r = NumpyRng::new(seed);
        let got: Vec<f64> = match func {
            "randn" => r.randn(&shape).into_iter().collect(),
            "rand" | "random_sample" => r.rand(&shape).into_iter().collect(),
            "mixed" => {
                let mut v: Vec<f64> = r.randn(&[3]).into_iter().collect();
                v.extend(r.rand(&[2]));
                v.extend(r.randn(&[2]));
                v
            }
            f => panic!("unknown {f}"),
        };
        assert_eq!(got.len(), want.len(), "{line}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "seed {seed} {func} value {i}: {g} vs numpy {w}");
        }
        cases += 1;
    }
    assert_eq!(cases, 7);
}
