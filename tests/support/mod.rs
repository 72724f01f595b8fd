pub mod conformance;
pub mod engine;
pub mod proxy;
