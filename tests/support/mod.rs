pub mod engine;
pub mod proxy;
