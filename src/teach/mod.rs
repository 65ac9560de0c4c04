//! Teaching aids for the notebooks: what the network learned ([`inspect`]), small experiments
//! under a step budget ([`experiment`]), and the article's PyTorch code run from Rust as a
//! reference ([`reference`]).

pub mod experiment;
pub mod inspect;
pub mod reference;
