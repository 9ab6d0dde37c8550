[package]
name = "development_cluster"
edition = "v0.10.0"
version = "0.1.0"
