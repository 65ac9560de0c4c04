//! What each data set is, as data: its files with their checksums and counts, shape, class
//! names, folders, mirrors and normalization ([`Spec`]). Adding a data set in the same IDX
//! format is one more entry here and a variant of [`super::Dataset`].

use super::idx::IdxFile;

/// What a data set is: everything that differs between data sets lives here.
#[derive(Debug)]
pub struct Spec {
    /// Its name in text ("MNIST").
    pub title: &'static str,
    /// Its name on the command line and in run records ("mnist").
    pub name: &'static str,
    pub files: Files,
    /// Channels and side of a picture: 1x28x28, 3x32x32.
    pub channels: i64,
    pub side: i64,
    /// Pictures in the training and the test split.
    pub train_count: usize,
    pub test_count: usize,
    /// Class names, by label.
    pub classes: [&'static str; 10],
    /// The environment variable naming its folder.
    pub dir_env: &'static str,
    /// The folder used when the variable is unset and no system folder holds it.
    pub default_dir: &'static str,
    /// Folders a system package installs it into, looked at when the variable is unset.
    pub system_dirs: &'static [&'static str],
    /// The environment variable replacing the mirrors (comma-separated base URLs).
    pub mirror_env: &'static str,
    /// Base URLs holding `<name>.gz` (IDX) or the archive (CIFAR), tried in order.
    pub mirrors: &'static [&'static str],
    /// `Normalize(mean, std)` per channel: the article's (0.5, 0.5) for the grey data sets,
    /// so that one notebook runs on each unchanged; CIFAR-10's own channel statistics.
    pub mean: &'static [f64],
    pub std: &'static [f64],
}

/// How a data set is stored.
#[derive(Debug)]
pub enum Files {
    /// Four IDX files: train images, train labels, test images, test labels.
    Idx([IdxFile; 4]),
    /// CIFAR's binary batches, downloaded as one archive ([`crate::data::cifar`]).
    Cifar(CifarFiles),
}

/// The files of a CIFAR data set.
#[derive(Debug)]
pub struct CifarFiles {
    /// The archive's name on the mirrors.
    pub archive: &'static str,
    /// Its published MD5 (of the compressed archive).
    pub archive_md5: &'static str,
    /// The folder the archive unpacks into.
    pub folder: &'static str,
    pub train: &'static [&'static str],
    pub test: &'static str,
}

const fn idx(
    name: &'static str,
    md5: &'static str,
    crc32: u32,
    count: u32,
    is_images: bool,
) -> IdxFile {
    IdxFile {
        name,
        md5,
        crc32,
        count,
        is_images,
    }
}

/// MNIST's files: train images, train labels, test images, test labels.
pub const MNIST_FILES: [IdxFile; 4] = [
    idx(
        "train-images-idx3-ubyte",
        "6bbc9ace898e44ae57da46a324031adb",
        0xe9f4d8b3,
        60_000,
        true,
    ),
    idx(
        "train-labels-idx1-ubyte",
        "a25bea736e30d166cdddb491f175f624",
        0xe0cb4ad2,
        60_000,
        false,
    ),
    idx(
        "t10k-images-idx3-ubyte",
        "2646ac647ad5339dbf082846283269ea",
        0x91373bdf,
        10_000,
        true,
    ),
    idx(
        "t10k-labels-idx1-ubyte",
        "27ae3e4e09519cfbb04c329615203637",
        0x4ab9eff9,
        10_000,
        false,
    ),
];

pub(crate) static MNIST: Spec = Spec {
    title: "MNIST",
    name: "mnist",
    files: Files::Idx(MNIST_FILES),
    channels: 1,
    side: 28,
    train_count: 60_000,
    test_count: 10_000,
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    dir_env: "MNIST_DIR",
    default_dir: "data/mnist",
    system_dirs: &[],
    mirror_env: "VGGNET_MNIST_MIRRORS",
    // torchvision's list.
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    mean: &[0.5],
    std: &[0.5],
};

pub(crate) static FASHION_MNIST: Spec = Spec {
    title: "Fashion-MNIST",
    name: "fashion-mnist",
    channels: 1,
    side: 28,
    train_count: 60_000,
    test_count: 10_000,
    // MD5s of the decompressed files (the publisher's are of its gzip files, which Debian's
    // package recompresses).
    files: Files::Idx([
        idx(
            "train-images-idx3-ubyte",
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            0xb4f29f28,
            60_000,
            true,
        ),
        idx(
            "train-labels-idx1-ubyte",
            "9018921c3c673c538a1fc5bad174d6f9",
            0x741a4657,
            60_000,
            false,
        ),
        idx(
            "t10k-images-idx3-ubyte",
            "8181f5470baa50b63fa0f6fddb340f0a",
            0x678fe0b1,
            10_000,
            true,
        ),
        idx(
            "t10k-labels-idx1-ubyte",
            "15d484375f8d13e6eb1aabb0c3f46965",
            0x80142c1f,
            10_000,
            false,
        ),
    ]),
    classes: [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    dir_env: "FASHION_MNIST_DIR",
    default_dir: "data/fashion-mnist",
    // Debian's `dataset-fashion-mnist`.
    system_dirs: &["/usr/share/datasets/fashion-mnist"],
    mirror_env: "VGGNET_FASHION_MNIST_MIRRORS",
    // The publisher's (zalandoresearch/fashion-mnist README) and torchvision's.
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://ossci-datasets.s3.amazonaws.com/fashion-mnist/",
    ],
    mean: &[0.5],
    std: &[0.5],
};

pub(crate) static CIFAR10: Spec = Spec {
    title: "CIFAR-10",
    name: "cifar10",
    files: Files::Cifar(CifarFiles {
        // The binary version's archive and its MD5 as published with it
        // (https://www.cs.toronto.edu/~kriz/cifar.html).
        archive: "cifar-10-binary.tar.gz",
        archive_md5: "c32a1d4ab5d03f1284b67883e8d87530",
        folder: "cifar-10-batches-bin",
        train: &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
        ],
        test: "test_batch.bin",
    }),
    channels: 3,
    side: 32,
    train_count: 50_000,
    test_count: 10_000,
    classes: [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
    dir_env: "CIFAR10_DIR",
    default_dir: "data/cifar10",
    system_dirs: &[],
    mirror_env: "VGGNET_CIFAR10_MIRRORS",
    mirrors: &["https://www.cs.toronto.edu/~kriz/"],
    // Channel means and standard deviations of the 50,000 training pictures.
    mean: &[0.4914, 0.4822, 0.4465],
    std: &[0.2470, 0.2435, 0.2616],
};
