//! Teaching aids for the notebooks: the network described ([`describe`]: its printout, stage
//! shapes, FLOPs), what the network learned ([`inspect`]), small experiments
//! under a step budget ([`experiment`]), and the article's PyTorch code run from Rust as a
//! reference ([`reference`]).

pub mod describe;
pub mod experiment;
pub mod inspect;
pub mod reference;
