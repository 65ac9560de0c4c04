//! Prints, as one JSON line, whether libtorch's CUDA backend is loaded before and after
//! `vggnet::engine::device()`, the device it picks and whether CUDA is available.
fn main() {
    let before = vggnet::engine::cuda::cuda_backend_loaded();
    let device = vggnet::engine::device();
    println!(
        "{{\"loaded_before\":{before},\"loaded_after\":{},\"default_device\":\"{device:?}\",\"cuda_available\":{}}}",
        vggnet::engine::cuda::cuda_backend_loaded(),
        vggnet::tch::Cuda::is_available()
    );
}
