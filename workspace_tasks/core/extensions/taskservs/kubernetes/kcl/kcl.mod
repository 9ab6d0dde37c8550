[package]
name = "kubernetes"
edition = "v0.10.0"
version = "0.1.0"
