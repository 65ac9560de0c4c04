//! The network: shapes, parameter names and count, dropout modes, PyTorch-default init.
//! PyTorch reference: `sum(p.numel() for p in VGG().parameters()) == 23_607_754`.

mod common;

use tch::{Device, Kind, Tensor};
use vggnet::model::{Vgg, VggConfig};

#[test]
fn mnist_shapes_and_parameter_count() {
    let cfg = VggConfig::default();
    assert_eq!(cfg.feature_size(), 1); // 28 -> 14 -> 7 -> 3 -> 1
    assert_eq!(cfg.classifier_in(), 512);
    assert_eq!(cfg.num_parameters(), 23_607_754);
    let model = Vgg::new(cfg, Device::Cpu).unwrap();
    let counted: i64 = model
        .named_parameters()
        .iter()
        .map(|(_, t)| t.numel() as i64)
        .sum();
    assert_eq!(counted, 23_607_754);
    let x = Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = tch::no_grad(|| model.forward_t(&x, false)).unwrap();
    assert_eq!(y.size(), vec![2, 10]);
    // The block activations come from the same walk: 28 -> 14 -> 7 -> 3 -> 1.
    let (logits, blocks) =
        tch::no_grad(|| vggnet::teach::inspect::forward_with_blocks(&model, &x)).unwrap();
    assert!(logits.equal(&y));
    let shapes: Vec<Vec<i64>> = blocks.iter().map(|b| b.size()).collect();
    assert_eq!(
        shapes,
        [
            vec![2, 64, 14, 14],
            vec![2, 128, 7, 7],
            vec![2, 256, 3, 3],
            vec![2, 512, 1, 1]
        ]
    );
    let stages = model.stage_shapes(1).unwrap();
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "input",
            "block 1 (conv, conv, pool)",
            "block 2 (conv, conv, pool)",
            "block 3 (conv, conv, pool)",
            "block 4 (conv, conv, pool)",
            "flatten",
            "classifier hidden",
            "logits"
        ]
    );
    assert_eq!(stages[5].1, vec![1, 512]);
    assert_eq!(stages[6].1, vec![1, 4096]);
    // The walk visits every layer, in PyTorch's order (the bench's profile times each).
    let mut visited = Vec::new();
    let _logits =
        tch::no_grad(|| model.walk(&x, false, None, &mut |l, _| visited.push(l.name.clone())))
            .unwrap();
    let names: Vec<String> = model.layers().iter().map(|l| l.name.clone()).collect();
    assert_eq!(visited, names);
    assert_eq!(
        (names[0].as_str(), names.last().unwrap().as_str()),
        ("features.0", "classifier.6")
    );
}

/// Input the network cannot take is an error naming the expected shape, not a crash.
#[test]
fn wrong_input_is_an_error_not_a_panic() {
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    for x in [
        Tensor::zeros([2, 3, 28, 28], (Kind::Float, Device::Cpu)),
        Tensor::zeros([2, 1, 32, 32], (Kind::Float, Device::Cpu)),
        Tensor::zeros([28, 28], (Kind::Float, Device::Cpu)),
        Tensor::zeros([2, 1, 28, 28], (Kind::Int64, Device::Cpu)),
    ] {
        let err = model.forward_t(&x, false).unwrap_err();
        assert!(err.to_string().contains("(batch, 1, 28, 28)"), "{err}");
        let err = vggnet::eval::predict_proba(&model, &x).unwrap_err();
        assert!(err.to_string().contains("(batch, 1, 28, 28)"), "{err}");
    }
}

#[test]
fn forward_flops_are_counted_per_layer() {
    // By hand: convs 2 * H * W * Cout * Cin * 9 at sides 28, 14, 7, 3 plus the three linears.
    let convs = [
        (28, 1, 64),
        (28, 64, 64),
        (14, 64, 128),
        (14, 128, 128),
        (7, 128, 256),
        (7, 256, 256),
        (3, 256, 512),
        (3, 512, 512),
    ];
    let conv: f64 = convs
        .iter()
        .map(|&(s, i, o)| 2.0 * (s * s * i * o * 9) as f64)
        .sum();
    let linear = 2.0 * (512.0 * 4096.0 + 4096.0 * 4096.0 + 4096.0 * 10.0);
    assert_eq!(VggConfig::default().forward_flops(), conv + linear);
    assert!((VggConfig::default().forward_flops() / 1e9 - 0.334).abs() < 0.01);
}

#[test]
fn parameter_names_match_pytorch_state_dict() {
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let conv = [0, 2, 5, 7, 10, 12, 15, 17];
    let mut expected = Vec::new();
    for i in conv {
        expected.push(format!("features.{i}.weight"));
        expected.push(format!("features.{i}.bias"));
    }
    for i in [0, 3, 6] {
        expected.push(format!("classifier.{i}.weight"));
        expected.push(format!("classifier.{i}.bias"));
    }
    assert_eq!(names, expected);
    // The var store holds exactly these, nothing else.
    assert_eq!(model.var_store().variables().len(), expected.len());
}

#[test]
fn cifar_sized_input_derives_classifier_width() {
    let cfg = VggConfig {
        in_channels: 3,
        image_size: 32,
        ..Default::default()
    };
    assert_eq!(cfg.feature_size(), 2); // 32 -> 16 -> 8 -> 4 -> 2
    assert_eq!(cfg.classifier_in(), 2048);
    let model = Vgg::new(cfg, Device::Cpu).unwrap();
    let y = tch::no_grad(|| {
        model.forward_t(
            &Tensor::randn([3, 3, 32, 32], (Kind::Float, Device::Cpu)),
            false,
        )
    })
    .unwrap();
    assert_eq!(y.size(), vec![3, 10]);
}

#[test]
fn too_small_input_is_a_config_error() {
    let cfg = VggConfig {
        image_size: 8,
        ..Default::default()
    };
    let err = Vgg::new(cfg, Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("too small"), "{err}");
}

#[test]
fn dropout_only_in_train_mode() {
    tch::manual_seed(0);
    let model = Vgg::new(common::tiny(), Device::Cpu).unwrap();
    let x = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
    let (e1, e2, t1, t2) = tch::no_grad(|| {
        (
            model.forward_t(&x, false).unwrap(),
            model.forward_t(&x, false).unwrap(),
            model.forward_t(&x, true).unwrap(),
            model.forward_t(&x, true).unwrap(),
        )
    });
    assert!(e1.equal(&e2), "eval mode must be deterministic");
    let d = f64::try_from((&t1 - &t2).abs().max()).unwrap();
    assert!(d > 0.0, "train mode must apply dropout");
}

/// `Vgg` is a `tch::nn::ModuleT`: `xs.apply_t(&model, train)` gives exactly the logits of the
/// inherent `forward_t`, in eval mode and (dropout drawn from the same seed) in train mode; a
/// wrong shape, which `forward_t` returns as an error, panics there with the same message.
#[test]
fn apply_t_is_forward_t() {
    // With the trait in scope, `model.forward_t(..)` is still the inherent, fallible method.
    use tch::nn::ModuleT;
    // Batch norm and no dropout: `train` changes the output (batch statistics against running
    // ones) and no random draw is involved, so tests running beside this one cannot disturb it.
    let config = vggnet::model::VggConfig {
        batch_norm: true,
        dropout: 0.0,
        ..common::tiny()
    };
    let model = tch::no_grad(|| Vgg::new(config, Device::Cpu)).unwrap();
    let x = Tensor::from_slice(
        &(0..8 * 784)
            .map(|i| ((i * 37) % 255) as f32 / 127.0 - 1.0)
            .collect::<Vec<_>>(),
    )
    .view([8, 1, 28, 28]);
    let mut outputs = Vec::new();
    for train in [false, true] {
        let applied = tch::no_grad(|| x.apply_t(&model, train));
        let forward = tch::no_grad(|| model.forward_t(&x, train)).unwrap();
        let trait_call = tch::no_grad(|| ModuleT::forward_t(&model, &x, train));
        assert_eq!(applied.size(), vec![8, 10]);
        assert!(applied.equal(&forward), "train = {train}");
        assert!(trait_call.equal(&forward), "train = {train}");
        outputs.push(applied);
    }
    // The check can fail: the flag reaches the network (train mode uses the batch's statistics).
    assert!(
        !outputs[0].equal(&outputs[1]),
        "train and eval mode gave the same output"
    );
    let wrong = Tensor::zeros([2, 3, 28, 28], (Kind::Float, Device::Cpu));
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wrong.apply_t(&model, false)
    }))
    .unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("(batch, 1, 28, 28)"), "{msg}");
}

#[test]
fn init_follows_pytorch_defaults() {
    // PyTorch: weight ~ kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in), 1/sqrt(fan_in));
    // bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The std of U(-b, b) is b / sqrt 3.
    tch::manual_seed(1);
    let model = Vgg::new(VggConfig::default(), Device::Cpu).unwrap();
    for (name, t) in model.named_parameters() {
        let fan_in: i64 = if name.ends_with(".bias") {
            let w = model
                .named_parameters()
                .into_iter()
                .find(|(n, _)| *n == name.replace(".bias", ".weight"))
                .unwrap()
                .1;
            w.size()[1..].iter().product()
        } else {
            t.size()[1..].iter().product()
        };
        let bound = 1.0 / (fan_in as f64).sqrt();
        let max = f64::try_from(t.abs().max()).unwrap();
        assert!(
            max <= bound * (1.0 + 1e-6),
            "{name}: max {max} > bound {bound}"
        );
        if t.numel() > 10_000 {
            let std = f64::try_from(t.std(true)).unwrap();
            let expected = bound / 3f64.sqrt();
            assert!(
                (std / expected - 1.0).abs() < 0.02,
                "{name}: std {std} vs {expected}"
            );
        }
    }
}

/// The optional batch norm (torchvision's `vgg*_bn` layout): a BatchNorm2d after every conv,
/// names shifted accordingly, buffers in the state_dict but not among the trained
/// parameters, updated by train-mode passes only. (PyTorch's own keys and values are
/// compared in tests/parity.rs.)
#[test]
fn batch_norm_switch_layout_and_buffers() {
    let cfg = VggConfig {
        batch_norm: true,
        ..Default::default()
    };
    // 8 BatchNorm2d layers of 2 * channels parameters each on top of the article's network.
    let bn_params = 2 * 2 * (64 + 128 + 256 + 512);
    assert_eq!(cfg.num_parameters(), 23_607_754 + bn_params);
    let model = Vgg::new(cfg, Device::Cpu).unwrap();
    let kinds: Vec<String> = model.layers()[..8]
        .iter()
        .map(|l| format!("{} {:?}", l.name, l.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            "features.0 Conv(0)",
            "features.1 BatchNorm(0)",
            "features.2 Relu",
            "features.3 Conv(1)",
            "features.4 BatchNorm(1)",
            "features.5 Relu",
            "features.6 MaxPool",
            "features.7 Conv(2)"
        ]
    );
    let params: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(params.len(), 8 * 4 + 6);
    assert!(params.iter().all(|n| !n.contains("running")));
    let state = model.state_dict();
    assert_eq!(state.len(), params.len() + 8 * 3);
    assert_eq!(model.var_store().variables().len(), state.len());
    let buffer = |name: &str| {
        state
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .unwrap()
    };
    let (mean, count) = (
        buffer("features.25.running_mean"),
        buffer("features.1.num_batches_tracked"),
    );
    assert_eq!(count.kind(), Kind::Int64);
    assert_eq!(count.size(), Vec::<i64>::new());
    // Eval mode reads the running statistics and leaves them alone; train mode updates them.
    let x = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
    let _ = tch::no_grad(|| model.forward_t(&x, false)).unwrap();
    assert_eq!(count.int64_value(&[]), 0);
    assert_eq!(mean.abs().sum(Kind::Float).double_value(&[]), 0.0);
    let _ = tch::no_grad(|| model.forward_t(&x, true)).unwrap();
    assert_eq!(count.int64_value(&[]), 1);
    assert!(mean.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // A copy carries the buffers; the stage shapes are the article's.
    let copy = model.try_clone().unwrap();
    let a = tch::no_grad(|| model.forward_t(&x, false)).unwrap();
    let b = tch::no_grad(|| copy.forward_t(&x, false)).unwrap();
    assert!(a.equal(&b));
    let stages = model.stage_shapes(1).unwrap();
    assert_eq!(stages.len(), 8);
    assert_eq!(stages[4].1, vec![1, 512, 1, 1]);
}

/// `println!("{model}")` prints exactly what PyTorch's `print(model)` prints for the article's
/// `VGG` (python/article.py, from the project venv), with and without batch norm.
#[test]
fn printed_as_pytorch_prints_the_articles_model() {
    for batch_norm in [false, true] {
        let mut cmd = std::process::Command::new(common::python());
        cmd.arg(common::root().join("python/article.py"))
            .arg("print");
        if batch_norm {
            cmd.arg("--batch-norm");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = String::from_utf8(out.stdout).unwrap();
        let model = Vgg::new(
            VggConfig {
                batch_norm,
                ..Default::default()
            },
            Device::Cpu,
        )
        .unwrap();
        let ours = format!("{model}\n");
        assert_eq!(ours, theirs, "batch_norm {batch_norm}");
    }
}

/// What notebook 02 prints to show its loop and `Trainer::fit` agree: 0 for the same weights,
/// the size of a change for one weight changed, and an error for models that do not match.
#[test]
fn the_weight_difference_of_two_models() {
    let narrow = vggnet::settings::Network::Narrow.config();
    let build = |seed: i64| {
        tch::manual_seed(seed);
        vggnet::model::Vgg::new(narrow.clone(), tch::Device::Cpu).unwrap()
    };
    let (a, b) = (build(3), build(3));
    assert_eq!(a.max_weight_difference(&b).unwrap(), 0.0);
    tch::no_grad(|| {
        let last_bias = b.named_parameters().pop().unwrap().1; // (10,)
        let _ = last_bias.get(3).fill_(1.0);
    });
    let before = f64::try_from(a.named_parameters().pop().unwrap().1.get(3)).unwrap();
    assert_eq!(
        a.max_weight_difference(&b).unwrap(),
        (1.0 - before as f32).abs() as f64
    );
    let other = vggnet::model::Vgg::new(
        vggnet::settings::Network::Article.config(),
        tch::Device::Cpu,
    )
    .unwrap();
    assert!(a.max_weight_difference(&other).is_err());
}

// The narrow preset (from src/model/config.rs, where the core keeps only code).
use vggnet::model::LayerKind;
use vggnet::settings::Network;

#[test]
fn the_narrow_network_has_the_articles_layers_at_an_eighth_of_the_widths() {
    let (article, narrow) = (Network::Article.config(), Network::Narrow.config());
    let names = |c: &VggConfig| -> Vec<(String, LayerKind)> {
        c.layers().into_iter().map(|l| (l.name, l.kind)).collect()
    };
    assert_eq!(names(&narrow), names(&article), "the same layers, in order");
    for (a, n) in article.block_channels.iter().zip(&narrow.block_channels) {
        assert_eq!(*a, 8 * n);
    }
    assert_eq!(article.hidden, 8 * narrow.hidden);
    // The convolutions' arithmetic scales with the square of the widths.
    let ratio = article.forward_flops() / narrow.forward_flops();
    assert!((40.0..70.0).contains(&ratio), "{ratio}");
    narrow.validate().unwrap();
}

/// Notebook 01's `vgg` cell, the article's network written in tch (copied by
/// tests/notebook_loop.rs).
#[allow(unused_imports)]
mod page {
    include!("notebook/vgg01.rs");
}

/// The network notebook 01 writes in tch is the crate's: the same parameter names and shapes,
/// and, given the crate's weights, the same eval-mode logits bit for bit (the article's widths
/// and the narrow ones, so a width written into the cell instead of read from the config fails).
#[test]
fn notebook_01s_network_in_tch_is_the_crates() {
    let _rng = common::rng_lock();
    for config in [VggConfig::default(), Network::Narrow.config()] {
        tch::manual_seed(3);
        let model = Vgg::new(config.clone(), Device::Cpu).unwrap();
        let mut vs = tch::nn::VarStore::new(Device::Cpu);
        let net = page::vgg(
            &vs.root(),
            &config.block_channels,
            config.hidden,
            config.num_classes,
        );
        let mut names: Vec<(String, Vec<i64>)> = vs
            .variables()
            .into_iter()
            .map(|(name, t)| (name, t.size()))
            .collect();
        names.sort();
        let mut want = config.parameter_shapes();
        want.sort();
        assert_eq!(
            names, want,
            "notebook 01's network names its weights otherwise"
        );
        vs.copy(model.var_store()).unwrap();
        let x = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
        let page_logits = tch::no_grad(|| x.apply_t(&net, false));
        let crate_logits = tch::no_grad(|| model.forward_t(&x, false)).unwrap();
        assert!(
            page_logits.equal(&crate_logits),
            "notebook 01's network computes other logits: largest difference {}",
            (&page_logits - &crate_logits).abs().max().double_value(&[])
        );
    }
}
