//! Your own handwriting: a photo or scan of digits decoded ([`prepare::imageio`]), the page
//! found and each digit turned into an MNIST-style 28x28 picture ([`prepare`]), read by a model
//! into a number ([`read`]); and the synthetic photos of pages on desks that test all of it
//! ([`synth`]).

pub mod prepare;
pub mod read;
pub mod synth;

pub use prepare::imageio;
