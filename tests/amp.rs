//! The grad scaler, on the CPU, against PyTorch's GradScaler semantics:
//! init scale 65536, growth x2 after 2000 clean steps, backoff x0.5 on inf/NaN (step skipped).

mod common;

use common::{rng_lock, snapshot, tiny, trainer_for};
use tch::{Device, Kind, Tensor};
use vggnet::model::Vgg;
use vggnet::train::amp::{GradScaler, GradScalerConfig};
use vggnet::train::{AmpMode, Precision, TrainConfig, Trainer};

fn grad_of(values: &[f32]) -> Tensor {
    let p =
        Tensor::zeros([values.len() as i64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    (&p * Tensor::from_slice(values))
        .sum(Kind::Float)
        .backward();
    p.grad()
}

#[test]
fn defaults_are_pytorchs() {
    // PyTorch's own GradScaler defaults, asked of the torch in the project's venv.
    let out = std::process::Command::new(common::python())
        .args([
            "-c",
            "import torch; s = torch.amp.GradScaler('cpu'); \
             print(s.get_scale(), s.get_growth_factor(), s.get_backoff_factor(), \
             s.get_growth_interval())",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let s = GradScaler::new(GradScalerConfig::default(), true);
    let ours = vec![
        s.scale,
        s.config.growth_factor,
        s.config.backoff_factor,
        s.config.growth_interval as f64,
    ];
    assert_eq!(
        ours, theirs,
        "ours (scale, growth, backoff, interval) against PyTorch's"
    );
}

#[test]
fn unscale_divides_and_detects_inf_and_nan() {
    let s = GradScaler::new(GradScalerConfig::default(), true);
    let g = grad_of(&[65536.0, -131072.0]);
    assert!(!s.unscale_(&[g.shallow_clone()]));
    assert_eq!(Vec::<f32>::try_from(&g).unwrap(), vec![1.0, -2.0]);
    assert!(s.unscale_(&[grad_of(&[1.0, f32::INFINITY])]));
    assert!(s.unscale_(&[grad_of(&[f32::NAN])]));
}

#[test]
fn inf_backs_off_and_clean_steps_grow() {
    let mut s = GradScaler::new(GradScalerConfig::default(), true);
    s.update_with(true);
    assert_eq!(s.scale, 32768.0);
    assert_eq!(s.skipped_steps, 1);
    for _ in 0..1999 {
        s.update_with(false);
    }
    assert_eq!(s.scale, 32768.0, "no growth before 2000 clean steps");
    s.update_with(false);
    assert_eq!(s.scale, 65536.0, "doubles after 2000 clean steps");
    assert_eq!(s.growth_tracker, 0);
    // An inf in the middle resets the count.
    for _ in 0..1000 {
        s.update_with(false);
    }
    s.update_with(true);
    for _ in 0..1999 {
        s.update_with(false);
    }
    assert_eq!(s.scale, 32768.0);
}

#[test]
fn disabled_scaler_is_a_pass_through() {
    let mut s = GradScaler::new(GradScalerConfig::default(), false);
    let loss = Tensor::from(2.5f32);
    assert_eq!(f64::try_from(s.scale(&loss)).unwrap(), 2.5);
    assert!(!s.unscale_(&[grad_of(&[f32::INFINITY])]));
    s.update_with(true);
    assert_eq!(s.scale, 65536.0);
}

#[test]
fn trainer_skips_the_step_on_an_injected_inf_gradient() {
    let _g = rng_lock();
    let mut trainer = trainer_for(tiny(), 3, TrainConfig::default());
    // tch's autocast is CUDA-only, but the scaler's logic is device-independent: force it on.
    trainer.scaler_mut().enabled = true;
    let before = snapshot(&trainer);
    let x = Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu));
    let loss = trainer
        .model()
        .forward_t(&x, true)
        .unwrap()
        .sum(Kind::Float)
        * f64::INFINITY;
    // PyTorch's words: scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update().
    let (_, optimizer, scaler) = trainer.parts_mut();
    scaler.scale(&loss).backward();
    assert!(scaler.step(optimizer), "step must be skipped");
    scaler.update();
    assert_eq!(trainer.scaler().scale, 32768.0);
    assert_eq!(trainer.optimizer().step_count(), 0);
    for ((name, after), before) in trainer.model().named_parameters().iter().zip(&before) {
        assert!(after.equal(before), "{name} changed on a skipped step");
    }
    // A clean step, the trainer's own, goes through and changes the weights.
    let out = trainer.step(&x, &Tensor::from_slice(&[1i64, 2])).unwrap();
    assert!(!out.skipped);
    assert_eq!(trainer.optimizer().step_count(), 1);
    assert_eq!(trainer.scaler().growth_tracker, 1);
    let (_, first) = &trainer.model().named_parameters()[0];
    assert!(!first.equal(&before[0]));
}

/// `AmpMode::On` where autocast cannot apply (the CPU) is an error, not a silent float32 run;
/// `Auto` trains in float32 there.
#[test]
fn amp_on_off_cuda_is_an_error() {
    let _g = rng_lock();
    let model = Vgg::new(tiny(), Device::Cpu).unwrap();
    let on = TrainConfig {
        amp: AmpMode::On,
        ..Default::default()
    };
    let err = Trainer::new(model, on).unwrap_err();
    assert!(err.to_string().contains("needs a CUDA device"), "{err}");
    let auto = trainer_for(tiny(), 1, TrainConfig::default());
    assert!(!auto.uses_grad_scaler());
}

/// bfloat16 AMP on the CPU: convolutions and linear layers compute in bfloat16, the loss in
/// float32, no GradScaler, and the weights (with AdamW's moments) stay float32. The setting
/// is saved with the run's config as `"bf16"`.
#[test]
fn bf16_amp_trains_float32_weights_without_a_scaler() {
    // Seeded dropout masks below: no other test may draw from torch's generator meanwhile
    // (without this lock a concurrent test's draws gave the two runs different masks, and
    // their losses differed by 0.051 once; with it, by 3.3e-5 on an AVX2 EPYC).
    let _g = rng_lock();
    let config = TrainConfig {
        amp: AmpMode::Bf16,
        ..Default::default()
    };
    let mut t = trainer_for(tiny(), 3, config.clone());
    assert_eq!(t.precision(), Precision::Bfloat16);
    assert_eq!(t.precision().autocast_kind(), Some(Kind::BFloat16));
    assert!(!t.uses_grad_scaler(), "bfloat16 needs no GradScaler");
    assert_eq!(t.scaler().effective_scale(), 1.0);
    tch::manual_seed(0);
    let xs = Tensor::randn([8, 1, 28, 28], (Kind::Float, Device::Cpu)); // (B, 1, 28, 28)
    let ys = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]); // (B,)
    let (logits, loss) = t.forward_loss(&xs, &ys).unwrap();
    assert_eq!(logits.kind(), Kind::BFloat16);
    assert_eq!(loss.kind(), Kind::Float);
    let before = snapshot(&t);
    tch::manual_seed(1); // the same dropout masks as the float32 step below
    let out = t.step(&xs, &ys).unwrap();
    assert!(out.loss.is_finite() && !out.skipped);
    for ((name, p), b) in t.model().named_parameters().iter().zip(&before) {
        assert_eq!(p.kind(), Kind::Float, "{name} must stay float32");
        assert!(!p.equal(b), "{name} did not move");
    }
    // The float32 run of the same step differs: bfloat16 really computed something else.
    let mut f32_run = trainer_for(tiny(), 3, TrainConfig::default());
    assert_eq!(f32_run.precision(), Precision::Float32);
    tch::manual_seed(1);
    let f32_out = f32_run.step(&xs, &ys).unwrap();
    assert_ne!(f32_out.loss, out.loss);
    assert!(
        (f32_out.loss - out.loss).abs() < 0.05,
        "{} vs {}",
        f32_out.loss,
        out.loss
    );
    // With batch norm too: bfloat16 activations through float32 weights and statistics.
    let bn = vggnet::model::VggConfig {
        batch_norm: true,
        ..tiny()
    };
    let mut bn = trainer_for(bn, 3, config.clone());
    let out = bn.step(&xs, &ys).unwrap();
    assert!(out.loss.is_finite() && !out.skipped);
    for (name, t) in bn.model().state_dict() {
        let want = if name.ends_with("num_batches_tracked") {
            Kind::Int64
        } else {
            Kind::Float
        };
        assert_eq!(t.kind(), want, "{name}");
    }
    let saved = serde_json::to_value(&config).unwrap();
    assert_eq!(saved["amp"], "bf16");
    let back: TrainConfig = serde_json::from_value(saved).unwrap();
    assert_eq!(back.amp, AmpMode::Bf16);
}

/// The calibration on this CPU, into a cache of its own: both precisions measured on the real
/// network, the choice the faster one's, kept and then read back without measuring again.
/// (Speeds are not asserted: other tests share the cores. `make bench` compares the choice
/// with its side-by-side measurement.)
#[test]
fn calibration_measures_both_precisions_and_keeps_the_answer() {
    use vggnet::engine::calibrate::{cached_in, cached_or_measure_in};
    let _rng = rng_lock(); // it draws weights and digits from torch's global generator
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("precision.json");
    let t = std::time::Instant::now();
    let c = cached_or_measure_in(&file).unwrap();
    let took = t.elapsed().as_secs_f64();
    println!("calibration ({took:.1} s): {c}");
    assert!(
        c.float32_images_per_sec > 0.0 && c.bfloat16_images_per_sec > 0.0,
        "{c:?}"
    );
    assert_eq!(c.cpu, vggnet::engine::cpu::cpu_model());
    assert_eq!(c.threads, i64::from(tch::get_num_threads()));
    assert_eq!(cached_in(&file).unwrap().as_ref(), Some(&c));
    // Kept: a later call answers from the file (here doctored to the other outcome), not anew.
    let doctored = vggnet::engine::calibrate::Calibration {
        float32_images_per_sec: c.bfloat16_images_per_sec,
        bfloat16_images_per_sec: c.float32_images_per_sec,
        ..c.clone()
    };
    vggnet::engine::calibrate::store_in(&file, &doctored).unwrap();
    assert_eq!(cached_or_measure_in(&file).unwrap(), doctored);
}
