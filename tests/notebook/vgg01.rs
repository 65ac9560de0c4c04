// notebooks/01_model.ipynb's `vgg` cells, copied for the tests.
// Edit the notebook, then: VGGNET_WRITE_NOTEBOOK_LOOP=1 cargo test --release --test notebook_loop
use vggnet::tch::{nn, nn::ModuleT, Kind, Tensor};

/// The article's `VGG` in tch: `features` (per block: conv 3x3, ReLU, conv 3x3, ReLU, max-pool),
/// then `classifier` (linear, ReLU, dropout, linear, ReLU, dropout, linear). The paths name the
/// weights as PyTorch's `state_dict()` does: `features.0.weight`, ..., `classifier.6.bias`.
pub fn vgg(p: &nn::Path, block_channels: &[i64], hidden: i64, num_classes: i64) -> nn::SequentialT {
    let conv = nn::ConvConfig { padding: 1, ..Default::default() }; // kernel 3, padding 1
    let (mut net, mut c_in, mut i) = (nn::seq_t(), 1, 0);           // i: the index in `features`
    for &c_out in block_channels {                                   // 64, 128, 256, 512
        net = net
            .add(nn::conv2d(p / "features" / i, c_in, c_out, 3, conv)) // nn.Conv2d(.., padding=1)
            .add_fn(|x| x.relu())                                    // nn.ReLU()
            .add(nn::conv2d(p / "features" / (i + 2), c_out, c_out, 3, conv))
            .add_fn(|x| x.relu())
            .add_fn(|x| x.max_pool2d_default(2));                    // nn.MaxPool2d(2, 2)
        (c_in, i) = (c_out, i + 5);                                  // 5 modules per block
    }
    let fc = |n: i64, c_in, c_out| {
        nn::linear(p / "classifier" / n, c_in, c_out, Default::default())
    };
    net.add_fn(|x| x.flatten(1, -1))                                 // x.view(x.size(0), -1)
        .add(fc(0, c_in, hidden))                                    // nn.Linear(512, 4096)
        .add_fn(|x| x.relu())
        .add_fn_t(|x, train| x.dropout(0.5, train))                  // nn.Dropout(0.5)
        .add(fc(3, hidden, hidden))
        .add_fn(|x| x.relu())
        .add_fn_t(|x, train| x.dropout(0.5, train))
        .add(fc(6, hidden, num_classes))                             // (B, 10): the logits
}

