//! Generates the gRPC code of both services from `proto/` with a vendored `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    }
    tonic_build::configure().build_client(true).compile_protos(
        &[
            "proto/mq.proto",
            "proto/rocketwire/gateway/v1/gateway.proto",
        ],
        &["proto"],
    )?;
    Ok(())
}
