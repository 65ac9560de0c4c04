//! What the network learned (`vggnet::teach::inspect`): each quantity checked against an independent
//! computation (the layers by hand, finite differences, the evaluation's own mistakes).

mod common;

use common::{load_mnist, rng_lock, tiny};
use tch::{Device, Kind, Tensor};
use vggnet::model::{Vgg, VggConfig};
use vggnet::teach::inspect::{confident_mistakes, feature_maps, first_layer_filters, saliency};

/// A seeded model. tch's generator is global and tests run on threads: seeding and building
/// happen under one lock, so the same seed always gives the same weights.
fn model(config: VggConfig, seed: i64) -> Vgg {
    let _g = rng_lock();
    tch::manual_seed(seed);
    Vgg::new(config, Device::Cpu).expect("building the model")
}

fn param(m: &Vgg, name: &str) -> Tensor {
    m.named_parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

#[test]
fn filters_are_the_first_convolutions_weights() {
    let m = model(VggConfig::default(), 1);
    let f = first_layer_filters(&m).unwrap();
    assert_eq!(f.size(), [64, 1, 3, 3]);
    assert!(f.equal(&param(&m, "features.0.weight")));
}

#[test]
fn feature_maps_are_the_blocks_computed_by_hand() {
    let data = load_mnist(Some(0), Some(2));
    let m = model(VggConfig::default(), 2);
    let maps = feature_maps(&m, &data.test.image(1).unwrap()).unwrap();
    let shapes: Vec<Vec<i64>> = maps.iter().map(|b| b.maps.size()).collect();
    assert_eq!(
        shapes,
        [
            vec![64, 14, 14],
            vec![128, 7, 7],
            vec![256, 3, 3],
            vec![512, 1, 1]
        ]
    );
    assert_eq!(maps[0].name, "block 1");
    // Block 1 by hand: conv, ReLU, conv, ReLU, 2x2 max-pool.
    let x = data.test.images().unwrap().narrow(0, 1, 1); // (1, 1, 28, 28)
    let conv = |x: &Tensor, i: usize| {
        x.conv2d(
            &param(&m, &format!("features.{i}.weight")),
            Some(&param(&m, &format!("features.{i}.bias"))),
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        )
    };
    let by_hand = tch::no_grad(|| {
        conv(&conv(&x, 0).relu(), 2)
            .relu()
            .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
    });
    let diff = f64::try_from((by_hand.get(0) - &maps[0].maps).abs().max()).unwrap();
    assert!(
        diff < 1e-5,
        "block 1 differs from the layers by hand by {diff}"
    );
    // A batch of one passes too, and gives the same maps.
    let again = feature_maps(&m, &x).unwrap();
    assert!(again[3].maps.equal(&maps[3].maps));
}

#[test]
fn saliency_is_the_input_gradient_of_the_class_score() {
    let data = load_mnist(Some(0), Some(3));
    let m = model(tiny(), 3);
    // A little noise on the digits: MNIST's flat background makes neighbouring activations
    // exactly equal, and a max-pool over equal values has a kink there (autograd picks one
    // branch, finite differences average both). Noise keeps every test point differentiable.
    tch::manual_seed(30);
    let xs = data.test.images().unwrap().narrow(0, 0, 3)
        + 0.05 * Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
    let targets = [7i64, 2, 1];
    let s = saliency(&m, &xs, &targets).unwrap();
    assert_eq!(s.size(), [3, 28, 28]);
    assert!(f64::try_from(s.min()).unwrap() >= 0.0);
    // The same model in double precision: its saliency matches the float one, and central
    // differences at the five most salient pixels of each image (the network is piecewise
    // linear, so they agree up to rounding).
    let md = {
        let mut copy = model(tiny(), 3);
        copy.var_store_mut().double();
        copy
    };
    let xd = xs.to_kind(Kind::Double);
    let sd = saliency(&md, &xd, &targets).unwrap();
    let scale = f64::try_from(sd.max()).unwrap();
    let gap = f64::try_from((&s.to_kind(Kind::Double) - &sd).abs().max()).unwrap();
    assert!(
        gap <= 1e-4 * scale,
        "float and double saliency differ by {gap} (max {scale})"
    );
    let score = |x: &Tensor, b: usize| {
        tch::no_grad(|| {
            let logits = md.forward_t(x, false).unwrap();
            f64::try_from(logits.get(b as i64).get(targets[b])).unwrap()
        })
    };
    let eps = 1e-6;
    for b in 0..3usize {
        let flat = sd.get(b as i64).flatten(0, -1);
        let top = Vec::<i64>::try_from(flat.argsort(0, true).narrow(0, 0, 5)).unwrap();
        for p in top {
            let (r, c) = (p / 28, p % 28);
            let plus = xd.copy();
            let _ = plus.get(b as i64).get(0).get(r).get(c).g_add_scalar_(eps);
            let minus = xd.copy();
            let _ = minus.get(b as i64).get(0).get(r).get(c).g_add_scalar_(-eps);
            let fd = ((score(&plus, b) - score(&minus, b)) / (2.0 * eps)).abs();
            let g = f64::try_from(flat.get(p)).unwrap();
            assert!(
                (fd - g).abs() <= 1e-4 * g,
                "image {b} pixel {p}: saliency {g}, finite difference {fd}"
            );
        }
    }
    assert!(
        saliency(&m, &xs, &[1, 2]).is_err(),
        "a target per image is required"
    );
}

#[test]
fn confident_mistakes_are_the_evaluations_errors_most_confident_first() {
    let data = load_mnist(Some(0), Some(300));
    let m = model(tiny(), 4);
    let ev = vggnet::eval::evaluate(&m, &data.test, 128).unwrap();
    let all = confident_mistakes(&m, &data.test, 10_000, 64).unwrap();
    let mut idx: Vec<usize> = all.iter().map(|x| x.index).collect();
    idx.sort();
    assert_eq!(
        idx, ev.misclassified,
        "the same examples as the evaluation's mistakes"
    );
    let probs = vggnet::eval::predict_proba(&m, &data.test.images().unwrap()).unwrap();
    for pair in all.windows(2) {
        assert!(
            pair[0].confidence >= pair[1].confidence,
            "sorted by confidence"
        );
    }
    for x in &all {
        assert_ne!(x.label, x.predicted);
        let row = probs.get(x.index as i64);
        let max = f64::try_from(row.max()).unwrap();
        assert!((x.confidence - max).abs() < 1e-6);
        let p_label = f64::try_from(row.get(x.label)).unwrap();
        assert!((x.label_probability - p_label).abs() < 1e-6);
        assert!(x.label_probability < x.confidence);
        assert_eq!(x.pixels.len(), 28 * 28);
    }
    let top3 = confident_mistakes(&m, &data.test, 3, 100).unwrap();
    assert_eq!(top3, all[..3.min(all.len())].to_vec());
}

/// The mirrored evaluation predicts, for every picture, the class with the largest mean of
/// the probabilities of the picture and of its mirror image (computed here from
/// `predict_proba`), and differs from the plain evaluation where those disagree.
#[test]
fn mirrored_evaluation_averages_each_picture_with_its_mirror_image() {
    let data = load_mnist(Some(256), Some(200));
    // A few steps of training: an untrained network gives every picture the same class, with
    // or without its mirror image.
    let m = {
        let _g = rng_lock();
        let config = VggConfig {
            batch_norm: true,
            ..tiny()
        };
        let mut t = common::trainer_for(config, 6, Default::default());
        let (xs, ys) = (data.train.images().unwrap(), &data.train.labels);
        for _ in 0..40 {
            t.step(&xs, ys).unwrap();
        }
        t.into_model()
    };
    let xs = data.test.images().unwrap(); // (200, 1, 28, 28)
    let p = vggnet::eval::predict_proba(&m, &xs).unwrap(); // (200, 10)
    let q = vggnet::eval::predict_proba(&m, &xs.flip([3])).unwrap(); // (200, 10)
    let expected = Vec::<i64>::try_from(((&p + &q) / 2.0).argmax(1, false)).unwrap();
    // Batches of 64 (not a divisor of 200): the last batch is short.
    let ev = vggnet::recipe::evaluate_mirrored(&m, &data.test, 64).unwrap();
    assert_eq!(ev.predictions, expected);
    let labels = Vec::<i64>::try_from(&data.test.labels).unwrap();
    let correct = expected.iter().zip(&labels).filter(|(a, b)| a == b).count() as u64;
    assert_eq!(ev.correct, correct);
    let plain = vggnet::eval::evaluate(&m, &data.test, 64).unwrap();
    let plain_expected = Vec::<i64>::try_from(p.argmax(1, false)).unwrap();
    assert_eq!(plain.predictions, plain_expected);
    let differ = expected
        .iter()
        .zip(&plain_expected)
        .filter(|(a, b)| a != b)
        .count();
    println!(
        "plain accuracy {:.1}%, mirrored {:.1}%; mirroring changed {differ} of 200 predictions",
        plain.accuracy, ev.accuracy
    );
    assert!(
        differ > 0,
        "a trained network is not mirror-symmetric on digits: some predictions must change"
    );
}
