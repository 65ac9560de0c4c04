//! What is kept on disk: model checkpoints and the resumable training state ([`checkpoint`]),
//! the article's PyTorch `.pth` files ([`pth`]), and the atomic, durable writes every save goes
//! through ([`fsio`]).

pub mod checkpoint;
pub mod fsio;
pub mod pth;
