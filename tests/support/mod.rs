pub mod conformance;
pub mod engine;
pub mod gce;
pub mod peers;
pub mod proxy;
pub mod standin;
