// notebooks/02_training.ipynb's `autocast_forward`, `train_epoch`, `evaluate_model` cells, copied for the tests.
// Edit the notebook, then: VGGNET_WRITE_NOTEBOOK_LOOP=1 cargo test --release --test notebook_loop
/// `with autocast(): model(data)`, in training mode (dropout on), in the run's precision:
/// float16 under tch's autocast on a GPU, bfloat16 through the crate's autocast on a CPU
/// (tch's is CUDA-only), else float32.
pub fn autocast_forward(model: &Vgg, precision: Precision, data: &Tensor) -> vggnet::Result<Tensor> {
    match precision {
        Precision::Bfloat16 => model.forward_autocast(data, true, Kind::BFloat16),
        p => tch::autocast(p == Precision::Float16, || model.forward_t(data, true)),
    }
}

/// The article's `train_epoch`: trains the rest of the current epoch, at most `budget` steps;
/// returns the epoch's record (mean loss, train accuracy, seconds) once the epoch is done.
/// `plan`: the recipe's rate and pictures at each step (the article's: its rate, the pictures
/// as they are).
pub fn train_epoch(trainer: &mut Trainer, plan: &dyn StepPlan, train: &Split, budget: &mut u64)
               -> vggnet::Result<Option<EpochRecord>> {
    let speed = vggnet::engine::speed_up(trainer);    // (not the article's: see the settings cell)
    if trainer.position.batch == 0 { println!("{speed}"); }
    let started = std::time::Instant::now();
    // train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    let batches = trainer.epoch_batches(train);
    let peak = trainer.config().optimizer.lr;
    let total = (batches.len() * trainer.config().epochs) as u64;
    let precision = trainer.precision();
    let smoothing = trainer.config().label_smoothing; // nn.CrossEntropyLoss(label_smoothing=...)
    let mut images = 0;
    // for data, target in pbar:   (from where an earlier call stopped)
    for (b, indices) in batches.iter().enumerate().skip(trainer.position.batch) {
        if *budget == 0 {                             // (budget used up: the place is kept)
            trainer.add_train_time(started.elapsed().as_secs_f64());
            return Ok(None);
        }
        // data, target = data.to(device), target.to(device)
        let (data, target) = trainer.load_batch(train, b, indices)?; // (B, 1, 28, 28), (B,)
        let data = plan.pictures(data, trainer.position.epoch + 1)?; // (the recipe's augmentation)
        let lr = plan.lr(peak, trainer.position.global_step, total); // (the recipe's rate now)
        trainer.set_lr(lr);
        let (model, optimizer, scaler) = trainer.parts_mut();
        optimizer.zero_grad();                        // optimizer.zero_grad()
        // with autocast(): output = model(data); loss = criterion(output, target)
        let output = autocast_forward(model, precision, &data)?; // (B, 10)
        let loss = output.to_kind(Kind::Float)
            .cross_entropy_loss::<Tensor>(&target, None, tch::Reduction::Mean, -100, smoothing);
        scaler.scale(&loss).backward();               // scaler.scale(loss).backward()
        let skipped = scaler.step(optimizer);         // scaler.step(optimizer): skips inf/NaN
        scaler.update();                              // scaler.update()
        let predicted = output.argmax(1, false);      // _, predicted = torch.max(output, 1)  (B,)
        // correct += (predicted == target).sum().item(); running_loss += loss.item()
        let correct = predicted.eq_tensor(&target).sum(Kind::Int64).int64_value(&[]) as u64;
        let step = StepOutput { loss: loss.double_value(&[]), correct, skipped };
        let p = trainer.count_step(b, indices.len(), &step); // total += target.size(0), ...
        *budget -= 1;
        images += indices.len();
        if (b + 1) % 50 == 0 || b + 1 == batches.len() { // pbar.set_postfix(loss=..., accuracy=...)
            let speed = images as f64 / started.elapsed().as_secs_f64();
            println!("epoch {} batch {}/{}: running loss {:.4}, accuracy {:.2}%, lr {lr:.1e}, \
                      {speed:.0} images/s", p.epoch, b + 1, batches.len(), p.running_loss,
                     p.running_accuracy);
        }
    }
    // return running_loss / len(train_loader), 100 * correct / total
    Ok(Some(trainer.end_epoch(started.elapsed().as_secs_f64())))
}
/// The article's `evaluate_model`: the percentage of `test` that `model` classifies correctly.
pub fn evaluate_model(model: &Vgg, test: &Split) -> vggnet::Result<f64> {
    vggnet::data::check_fits(model.config(), test.dataset, None)?; // (classes, channels, size fit)
    let _no_grad = tch::no_grad_guard();              // with torch.no_grad():
    let mut correct = 0;                              // correct = 0
    for batch in test.batches(1_000, None) {          // for data, target in test_loader: (in order)
        let (data, target) = batch?;                  //   data, target = data.to(device), ...
        let output = model.forward_t(&data, false)?;  //   output = model(data)  (model.eval())
        let predicted = output.argmax(1, false);      //   _, predicted = torch.max(output, 1)
        // correct += (predicted == target).sum().item()
        correct += predicted.eq_tensor(&target).sum(Kind::Int64).int64_value(&[]);
    }
    Ok(100.0 * correct as f64 / test.len() as f64)    // accuracy = 100 * correct / total
}
