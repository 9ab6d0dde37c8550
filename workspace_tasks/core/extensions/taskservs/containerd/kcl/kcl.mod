[package]
name = "containerd"
edition = "v0.10.0"
version = "0.1.0"
